"""The codebook of a spec's tables, for the researcher formats (labels and value labels from code lists)."""

from __future__ import annotations

from scrambler.formats.codebook import Codebook, ColumnInfo
from scrambler.spec.model import DatasetSpec, Variable
from scrambler.spec.time import format_period
from scrambler.tables import table_columns

GRAIN_WORDS = {"year": ("year", "years"), "quarter": ("quarter", "quarters"), "month": ("month", "months")}


def relative_period(offset: int, grain: str) -> str:
    """``next year``, ``previous quarter``, ``2 months later``: where a block's period lies from the table's."""
    one, many = GRAIN_WORDS.get(grain, (grain, f"{grain}s"))
    if offset == 1:
        return f"next {one}"
    if offset == -1:
        return f"previous {one}"
    return f"{abs(offset)} {many} {'later' if offset > 0 else 'earlier'}"


def column_label(spec: DatasetSpec, var: Variable, period: int | None, offset: int) -> str:
    """The variable label of one column. A column of another period than its table's (``province_next``)
    says which period it describes, in front, so that cutting a long label to a package's limit keeps it:
    ``2021 (next year): Province of residence``. Without ``period``: ``next year: Province of residence``."""
    label = var.label.get("en", var.name)
    if offset == 0:
        return label
    relative = relative_period(offset, spec.panel.grain)
    if period is None:
        return f"{relative}: {label}"
    return f"{format_period(period + offset, spec.panel.grain)} ({relative}): {label}"


def spec_codebook(spec: DatasetSpec) -> Codebook:
    columns: dict[str, ColumnInfo] = {}
    table_labels: dict[tuple[str, str], str] = {}
    for name, table, period in spec.table_names():
        for column, var, offset in table_columns(spec, table):
            if offset:
                table_labels[(name, column)] = column_label(spec, var, period, offset)
            if column in columns:
                continue
            kind = {"year": "integer", "year_month": "string", "year_quarter": "string"}.get(var.type, var.type)
            labels = None
            if var.is_categorical and var.type != "boolean" and var.codelist is not None:
                labels = {c: var.codelist.label(c) for c in var.codes}
            columns[column] = ColumnInfo(name=column, label=column_label(spec, var, None, offset), kind=kind,
                                         value_labels=labels)
    return Codebook(columns=columns, table_labels=table_labels)
