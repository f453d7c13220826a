"""Tables recoded for packages that label numbers: Stata and SPSS share one policy (docs/formats.md).

- Coded variables whose codes are all plain integers ("111", "10000"; no "01", no "F") are stored as those
  numbers, each labelled with its code label: ``province == 10000`` works and shows "Antwerp".
- Other coded variables are numbered 1..K in codebook order, each number labelled "CODE label", and the
  code string itself is kept in a companion column ``<name>_code``. Scripts filter on the exact code
  (``sex_code == "F"``) and tabulate or model with the labelled number (``tab sex``, ``i.sex``).
- Booleans are 0/1 labelled no/yes. Nulls are system missing for numbers and "" for strings (neither
  Stata nor SPSS has a missing string).

Using one policy for both packages means the same script logic works on a .dta and a .sav file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scrambler.errors import DataError, Issue
from scrambler.formats._atomic import Save, map_each, staged
from scrambler.formats._common import (
    CodePlan,
    Column,
    clip,
    is_plain_integer,
    normalize,
    own_array,
    plan_codes,
    resolve,
)
from scrambler.formats._names import NameRule, check_names
from scrambler.formats._texts import Grouping, grouped_text, recode_grouped, recode_with_text
from scrambler.formats.codebook import Codebook

CODE_SUFFIX = "_code"
BOOLEAN_LABELS: dict[int | float, str] = {0: "no", 1: "yes"}
FILE_LABEL = "Scrambled development data, not real persons: {table}"


@dataclass(frozen=True)
class Limit:
    """Longest label a package accepts, in characters and/or UTF-8 bytes."""

    chars: int | None = None
    bytes: int | None = None

    def __call__(self, text: str) -> str:
        return clip(text, self.chars, self.bytes)


@dataclass
class LabelledTable:
    """One table ready for the writers: data plus labels, and per output column the role it plays.

    ``frame`` holds numbers as nullable integers (codes, booleans 0/1) or doubles, and text as categories of
    its texts ("" for null) where they come grouped, else as Python strings: pandas' and pyreadstat's writers
    take the frame through :func:`~scrambler.formats._texts.plain_text`."""

    name: str
    frame: pd.DataFrame
    column_labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[int | float, str]] = field(default_factory=dict)
    #: output column -> kind of its variable, or "code" for a ``<name>_code`` companion
    roles: dict[str, str] = field(default_factory=dict)
    #: text column (a ``<name>_code`` companion, a string) -> its grouping as recoding made it: the binary
    #: writers encode each text once from it instead of hashing the column again
    #: (:func:`~scrambler.formats._texts.encoded_texts`)
    groupings: dict[str, Grouping] = field(default_factory=dict)


@dataclass(frozen=True)
class Recoding:
    """What the recoding of every table shares: each table's columns and rows, the code plans (one per coded
    variable, across tables) and the label limits."""

    columns: dict[str, list[Column]]
    rows: dict[str, int]
    plans: dict[str, CodePlan]
    variable_label: Limit
    value_label: Limit

    def names(self) -> list[tuple[str, str, str]]:
        """(table, output name, variable) of every column the tables will have, companions included, to
        check against a package's naming rule before any value is recoded."""
        out: list[tuple[str, str, str]] = []
        for table, columns in self.columns.items():
            for col in columns:
                out.append((table, col.name, col.name))
                if col.info.coded and not self.plans[col.info.name].numeric:
                    out.append((table, col.name + CODE_SUFFIX, col.name))  # a clash is caught by check_names
        return out


def plan_recoding(tables: Mapping[str, pd.DataFrame], codebook: Codebook, variable_label: Limit,
                  value_label: Limit) -> Recoding:
    """The shared part of the recoding; raises one DataError for columns the codebook does not describe."""
    columns = resolve(tables, codebook)
    return Recoding({table: [c for c in columns if c.table == table] for table in tables},
                    {table: len(frame) for table, frame in tables.items()}, plan_codes(columns),
                    variable_label, value_label)


def recode_table(recoding: Recoding, table: str) -> tuple[LabelledTable, list[Issue]]:
    """One table recoded, and the problems of its values (none: the table is sound)."""
    issues: list[Issue] = []
    out = LabelledTable(table, pd.DataFrame(index=range(recoding.rows[table])))
    data: dict[str, object] = {}  # one frame at the end: a frame grown column by column cost 0.4 s per export
    for col in recoding.columns[table]:
        _add_column(out, data, col, recoding, issues)
    if data:
        out.frame = pd.DataFrame(data, index=out.frame.index, copy=False)  # no copy into 2-D blocks
    return out, issues


def build(
    tables: Mapping[str, pd.DataFrame],
    codebook: Codebook,
    rule: NameRule,
    variable_label: Limit,
    value_label: Limit,
) -> list[LabelledTable]:
    """Recode every table, or raise one DataError listing every bad column and name of every table."""
    recoding = plan_recoding(tables, codebook, variable_label, value_label)
    recoded = [recode_table(recoding, table) for table in tables]
    _refuse([issue for _, found in recoded for issue in found] + check_names(rule, recoding.names()))
    return [out for out, _ in recoded]


def _refuse(issues: list[Issue]) -> None:
    if issues:
        raise DataError(issues)


def export_each(
    tables: Mapping[str, pd.DataFrame],
    codebook: Codebook,
    rule: NameRule,
    variable_label: Limit,
    value_label: Limit,
    write: Callable[[LabelledTable, Save], list[Path]],
) -> list[Path]:
    """Recode each table and ``write(table, save)`` it on the writer threads, so that one table's recoding
    (Python, 0.05 s a table of 100,000 persons) overlaps another's writing: the files in the tables' order.
    Nothing is published until every table is recoded and written: ``save`` stages each file, and one bad
    value anywhere raises the DataError :func:`build` raises, with no file published."""
    recoding = plan_recoding(tables, codebook, variable_label, value_label)
    names = check_names(rule, recoding.names())
    if names:  # nothing is written; every table's values are checked too, so the error lists all, as build's
        _refuse([issue for table in tables for issue in recode_table(recoding, table)[1]] + names)

    def one(table: str) -> tuple[list[Path], list[Issue]]:
        out, found = recode_table(recoding, table)
        return ([], found) if found else (write(out, stage.write), [])

    with staged() as stage:
        done = map_each(list(tables), one)
        _refuse([issue for _, found in done for issue in found])
    return [path for paths, _ in done for path in paths]


def name_issues(columns: Mapping[str, Sequence[str]], codebook: Codebook, rule: NameRule) -> list[Issue]:
    """The names :func:`build` would write for these columns (table -> column names), checked against
    ``rule`` without any data: a coded variable gets a ``_code`` companion unless all its codes are plain
    integers, as in :func:`~scrambler.formats._common.plan_codes` when the data hold only the codebook's codes.
    Value-label sets are named after their column by the writers, so checking the column checks them too."""
    names: list[tuple[str, str, str]] = []
    for table, table_columns in columns.items():
        for name in table_columns:
            info = codebook.column(table, name)
            if info is None:
                continue
            names.append((table, name, name))
            if info.coded and not all(is_plain_integer(str(c)) for c in (info.value_labels or {})):
                names.append((table, name + CODE_SUFFIX, name))
    return check_names(rule, names)


def _add_column(
    out: LabelledTable,
    data: dict[str, object],
    col: Column,
    recoding: Recoding,
    issues: list[Issue],
) -> None:
    """Append one column (and its companion, if any) to ``data`` (``out``'s frame to be) and its labels to
    ``out``; record the problems of its values. Arrays, not Series: the new frame takes them by position
    whatever the input's index."""
    info, name = col.info, col.name
    variable_label, value_label = recoding.variable_label, recoding.value_label
    out.column_labels[name] = variable_label(info.label)
    out.roles[name] = info.kind
    if info.coded:  # recoded from the column's own values, grouped once (see recode_with_text)
        plan = recoding.plans[info.name]
        if plan.numeric:
            numbers, _ = recode_with_text(col.series, plan.numbers, texts=False)
        else:
            numbers, texts, grouping = recode_grouped(col.series, plan.numbers)
            out.groupings[name + CODE_SUFFIX] = grouping
        data[name] = numbers
        if plan.labels:
            out.value_labels[name] = {k: value_label(v) for k, v in plan.labels.items()}
        if not plan.numeric:
            companion = name + CODE_SUFFIX  # its name is in Recoding.names
            data[companion] = texts
            out.column_labels[companion] = variable_label(f"{info.label} (code)")
            out.roles[companion] = "code"
        return
    grouped = grouped_text(col.series) if _becomes_text(col) else None
    if grouped is not None:  # grouped once, for the writers too (as a companion)
        data[name], out.groupings[name] = grouped
        return
    values = normalize(col, issues)
    if info.kind == "boolean":
        out.value_labels[name] = dict(BOOLEAN_LABELS)
    if values.dtype == object:
        data[name] = values.fillna("").to_numpy(dtype=object)
    else:
        data[name] = own_array(values)


def _becomes_text(col: Column) -> bool:
    """True for a column :func:`~scrambler.formats._common.normalize` would turn into text."""
    kind = col.info.kind
    return kind == "string" or (kind == "identifier" and not pd.api.types.is_numeric_dtype(col.series.dtype))
