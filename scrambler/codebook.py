"""The codebook of a spec's tables, for the researcher formats (labels and value labels from code lists)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from scrambler.errors import Issue, SpecError
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


def export_issues(spec: DatasetSpec, formats: Iterable[str]) -> list[Issue]:
    """Every name problem an export of the spec's tables in ``formats`` would meet, before any data exist:
    the exporters' name checks run on the spec's columns (variable, companion ``_code`` and label-set names
    and their limits; SAS data set and format names are derived to fit)."""
    from scrambler.formats import check_export

    tables = {name: [column for column, _, _ in table_columns(spec, t)] for name, t, _ in spec.table_names()}
    codebook = spec_codebook(spec)
    dataset_file = str(Path(spec.root) / "dataset.yaml") if spec.root else None
    issues: list[Issue] = []
    for fmt in formats:
        for issue in check_export(tables, codebook, fmt):
            issues.append(replace(issue, message=f"{fmt} export: {issue.message}", file=dataset_file))
    return issues


def require_exportable(spec: DatasetSpec, formats: Iterable[str]) -> None:
    """Raise SpecError listing :func:`export_issues`, if any."""
    issues = export_issues(spec, formats)
    if issues:
        raise SpecError(issues)
