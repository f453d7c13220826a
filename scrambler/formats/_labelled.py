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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from scrambler.errors import DataError, Issue
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


def build(
    tables: Mapping[str, pd.DataFrame],
    codebook: Codebook,
    rule: NameRule,
    variable_label: Limit,
    value_label: Limit,
) -> list[LabelledTable]:
    """Recode every table, or raise one DataError listing every bad column and name of every table."""
    columns = resolve(tables, codebook)
    plans = plan_codes(columns)
    issues: list[Issue] = []
    names: list[tuple[str, str, str]] = []
    built: list[LabelledTable] = []
    for table, frame in tables.items():
        out = LabelledTable(table, pd.DataFrame(index=range(len(frame))))
        data: dict[str, object] = {}  # one frame at the end: a frame grown column by column cost 0.4 s per export
        for col in (c for c in columns if c.table == table):
            _add_column(out, data, col, plans, variable_label, value_label, names, issues)
        if data:
            out.frame = pd.DataFrame(data, index=out.frame.index, copy=False)  # no copy into 2-D blocks
        built.append(out)
    issues += check_names(rule, names)
    if issues:
        raise DataError(issues)
    return built


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
    plans: Mapping[str, CodePlan],
    variable_label: Limit,
    value_label: Limit,
    names: list[tuple[str, str, str]],
    issues: list[Issue],
) -> None:
    """Append one column (and its companion, if any) to ``data`` (``out``'s frame to be) and its labels to
    ``out``; record the names to check and the problems of its values. Arrays, not Series: the new frame
    takes them by position whatever the input's index."""
    info, name = col.info, col.name
    names.append((out.name, name, name))
    out.column_labels[name] = variable_label(info.label)
    out.roles[name] = info.kind
    if info.coded:  # recoded from the column's own values, grouped once (see recode_with_text)
        plan = plans[info.name]
        if plan.numeric:
            numbers, _ = recode_with_text(col.series, plan.numbers, texts=False)
        else:
            numbers, texts, grouping = recode_grouped(col.series, plan.numbers)
            out.groupings[name + CODE_SUFFIX] = grouping
        data[name] = numbers
        if plan.labels:
            out.value_labels[name] = {k: value_label(v) for k, v in plan.labels.items()}
        if not plan.numeric:
            companion = name + CODE_SUFFIX
            names.append((out.name, companion, name))  # a clash with a real column is caught by check_names
            data[companion] = texts
            out.column_labels[companion] = variable_label(f"{info.label} (code)")
            out.roles[companion] = "code"
        return
    grouped = grouped_text(col.series) if _is_text(col) else None
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


def _is_text(col: Column) -> bool:
    """True for a column :func:`~scrambler.formats._common.normalize` would turn into text."""
    kind = col.info.kind
    return kind == "string" or (kind == "identifier" and not pd.api.types.is_numeric_dtype(col.series.dtype))
