"""Frictionless Data Package descriptor (datapackage.json) for the tables of a dataset."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scrambler.codebook import column_label
from scrambler.spec.model import DatasetSpec, Variable
from scrambler.tables import table_columns

FIELD_TYPES = {"categorical": "string", "ordinal": "string", "boolean": "boolean", "integer": "integer",
               "decimal": "number", "year": "integer", "year_month": "yearmonth", "year_quarter": "string",
               "identifier": "integer"}

FILE = "datapackage.json"  #: the descriptor's name in every folder it describes

YEAR_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def _field(spec: DatasetSpec, column: str, var: Variable, period: int, offset: int) -> dict[str, Any]:
    field: dict[str, Any] = {"name": column, "type": FIELD_TYPES[var.type],
                             "title": column_label(spec, var, period, offset), "description": var.label.get("nl", ""),
                             "x-variable": var.name, "x-offset": offset, "x-source": var.source}
    if var.type == "year_month":
        field["format"] = "default"
    if var.type == "year":
        # Table Schema's "year" type reads integers only, and a year column with nulls reaches pandas-based
        # readers as floats (1996.0); "integer" reads both, and the bounds still hold
        field["x-type"] = "year"
    if field["type"] in ("integer", "number") and var.type != "identifier":
        # Parquet has real nulls, but readers that go through pandas (frictionless among them) turn a null in
        # a number column into a float NaN, which they then see as the text "nan"
        field["missingValues"] = ["", "nan"]
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
        if value is not None:
            _bound(field, constraints, var.type, key, value)
    if c.pattern:
        # Table Schema allows ``pattern`` on strings only; a pattern on a year-month stays as documentation
        if field["type"] == "string":
            constraints["pattern"] = c.pattern
        else:
            field["x-pattern"] = c.pattern
    if constraints:
        field["constraints"] = constraints
    return field


def _bound(field: dict[str, Any], constraints: dict[str, Any], kind: str, key: str, value: float | str) -> None:
    """A minimum or maximum in the form Table Schema wants for the field's type (validators compare it with
    the cell, so 1955.0 on an integer field is an error), or under ``x-`` where the type has no bounds."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind in ("integer", "year") and whole:
        constraints[key] = int(value)
    elif kind == "decimal" and isinstance(value, int | float):
        constraints[key] = value
    elif kind == "year_month" and isinstance(value, str) and YEAR_MONTH.fullmatch(value):
        constraints[key] = value
    else:
        field[f"x-{key}"] = value


def _resource_name(name: str, taken: set[str]) -> str:
    """A Data Package name (lower-case letters, digits and -._/ only) for a table or dataset name, unique
    among ``taken``: table names such as ``quarter_2014Q1`` are not valid names as they are."""
    base = re.sub(r"[^-a-z0-9._/]", "_", name.lower()) or "table"
    candidate, counter = base, 1
    while candidate in taken:
        counter += 1
        candidate = f"{base}-{counter}"
    taken.add(candidate)
    return candidate


def _file(table: str, fmt: str, suffix: str) -> dict[str, str]:
    """Where a resource's data are: the table's file in a format (``path`` is the real file name)."""
    return {"path": f"{table}{suffix}", "format": fmt}


def retarget(descriptor: Mapping[str, Any], fmt: str, suffix: str) -> dict[str, Any]:
    """``descriptor`` with each resource pointing at its table's file in another format (an export folder's
    package: same schemas, other files)."""
    return {**descriptor, "resources": [{**r, **_file(r["x-table"], fmt, suffix)} for r in descriptor["resources"]]}


def datapackage(spec: DatasetSpec, rows: Mapping[str, int], label: str,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    resources = []
    taken: set[str] = set()
    for name, table, period in spec.table_names():
        if name not in rows:
            continue
        fields = [_field(spec, col, var, period, offset) for col, var, offset in table_columns(spec, table)]
        schema: dict[str, Any] = {"fields": fields, "primaryKey": [spec.identifier], "missingValues": [""]}
        # Not a Table Schema foreignKey: that would claim every person of this table is in the first one,
        # and validators check it (a person need not be present in every period).
        schema["x-linkedBy"] = {"fields": [spec.identifier],
                                "x-note": "persons are linked across tables by the sequence number; "
                                          "a person need not be in every table"}
        resources.append({"name": _resource_name(name, taken), "title": name, "x-table": name,
                          **_file(name, "parquet", ".parquet"), "profile": "tabular-data-resource", "schema": schema,
                          "x-rows": rows[name]})
    descriptor: dict[str, Any] = {"name": _resource_name(spec.name, set()), "title": spec.title, "description": label,
                                  "x-deliberation": spec.deliberation, "resources": resources}
    if extra:
        descriptor.update(extra)
    return descriptor
