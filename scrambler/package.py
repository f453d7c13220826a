"""Frictionless Data Package descriptor (datapackage.json) for the tables of a dataset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrambler.spec.model import DatasetSpec, Variable
from scrambler.tables import table_columns

FIELD_TYPES = {"categorical": "string", "ordinal": "string", "boolean": "boolean", "integer": "integer",
               "decimal": "number", "year": "year", "year_month": "yearmonth", "year_quarter": "string",
               "identifier": "integer"}


def _field(column: str, var: Variable, offset: int) -> dict[str, Any]:
    field: dict[str, Any] = {"name": column, "type": FIELD_TYPES[var.type],
                             "title": var.label.get("en", var.name), "description": var.label.get("nl", ""),
                             "x-variable": var.name, "x-offset": offset, "x-source": var.source}
    if var.type == "year_month":
        field["format"] = "default"
    constraints: dict[str, Any] = {}
    c = var.constraints
    if var.type == "identifier":
        constraints.update(required=True, unique=True)
    elif c.required and offset == 0:
        constraints["required"] = True
    if var.is_categorical and var.type != "boolean":
        from scrambler.constraints.domain import domain_codes

        allowed = domain_codes(var)
        codes = [code for code in var.codes if code in allowed]
        field["categories"] = [{"value": code, "label": var.codelist.label(code) if var.codelist else code}
                               for code in codes]
        if var.type == "ordinal":
            field["categoriesOrdered"] = True
        constraints["enum"] = codes
    for key in ("minimum", "maximum"):
        value = getattr(c, key)
        if value is not None and var.type in ("integer", "decimal", "year"):
            constraints[key] = value
    if c.pattern:
        constraints["pattern"] = c.pattern
    if constraints:
        field["constraints"] = constraints
    return field


def datapackage(spec: DatasetSpec, rows: Mapping[str, int], label: str,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    resources = []
    first_table = None
    for name, table, _period in spec.table_names():
        if name not in rows:
            continue
        fields = [_field(col, var, offset) for col, var, offset in table_columns(spec, table)]
        schema: dict[str, Any] = {"fields": fields, "primaryKey": [spec.identifier], "missingValues": [""]}
        if first_table is not None:
            schema["foreignKeys"] = [{"fields": [spec.identifier],
                                      "reference": {"resource": first_table, "fields": [spec.identifier]},
                                      "x-note": "persons are linked across tables by the sequence number; "
                                                "a person need not be in every table"}]
        first_table = first_table or name
        resources.append({"name": name, "path": f"{name}.parquet", "format": "parquet", "profile":
                          "tabular-data-resource", "schema": schema, "x-rows": rows[name]})
    descriptor: dict[str, Any] = {"name": spec.name, "title": spec.title, "description": label,
                                  "x-deliberation": spec.deliberation, "resources": resources}
    if extra:
        descriptor.update(extra)
    return descriptor
