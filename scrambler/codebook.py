"""The codebook of a spec's tables, for the researcher formats (labels and value labels from code lists)."""

from __future__ import annotations

from scrambler.formats.codebook import Codebook, ColumnInfo
from scrambler.spec.model import DatasetSpec
from scrambler.tables import table_columns


def spec_codebook(spec: DatasetSpec) -> Codebook:
    columns: dict[str, ColumnInfo] = {}
    for _, table, _ in spec.table_names():
        for column, var, _offset in table_columns(spec, table):
            kind = {"year": "integer", "year_month": "string", "year_quarter": "string"}.get(var.type, var.type)
            labels = None
            if var.is_categorical and var.type != "boolean" and var.codelist is not None:
                labels = {c: var.codelist.label(c) for c in var.codes}
            columns[column] = ColumnInfo(name=column, label=var.label.get("en", var.name), kind=kind,
                                         value_labels=labels)
    return Codebook(columns=columns)
