"""Checks and conversions shared by the exporters.

Everything here runs *before* the first file is written, and every problem is collected into one
:class:`~scrambler.errors.DataError`, so that an export either fails up front listing every bad table and
column at once, or writes all its files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from scrambler.errors import DataError, Issue
from scrambler.formats.codebook import Codebook, ColumnInfo
from scrambler.formats.names import TABLE_NAME

#: Integers beyond this lose precision when stored as doubles (Stata, SPSS and SAS store numbers as doubles).
MAX_EXACT_INT = 2**53
#: Stata value labels can be attached only to integers in this range (larger values encode missing .a-.z).
STATA_LABEL_MIN, STATA_LABEL_MAX = -2_147_483_647, 2_147_483_620
_PLAIN_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class Column:
    """One column of one table, with the codebook entry of its variable."""

    table: str
    name: str
    info: ColumnInfo
    series: pd.Series


def resolve(tables: Mapping[str, pd.DataFrame], codebook: Codebook) -> list[Column]:
    """Pair every column with its codebook entry; raise one DataError for unknown or ambiguous columns.

    An unlabelled column in a researcher's file is worse than a failed export, so every column must be
    described by the codebook.
    """
    issues: list[Issue] = []
    columns: list[Column] = []
    for table, frame in tables.items():
        if not TABLE_NAME.match(table):
            issues.append(
                Issue("invalid-table-name", f"table name {table!r} is not usable as a file name", table=table)
            )
        seen: set[str] = set()
        for name in frame.columns:
            if not isinstance(name, str):
                issues.append(Issue("invalid-column-name", f"column {name!r} is not a string", table=table))
                continue
            if name in seen:
                issues.append(Issue("duplicate-column", "column appears twice", table=table, variable=name))
                continue
            seen.add(name)
            info = codebook.column(table, name)
            if info is None:
                issues.append(
                    Issue("unknown-column", "column is not in the codebook", table=table, variable=name)
                )
                continue
            columns.append(Column(table, name, info, frame[name]))
    if issues:
        raise DataError(issues)
    return columns


def code_text(value: object) -> str:
    """A code as text: category levels may arrive as ints or floats (111.0) but codes are strings."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def text_values(series: pd.Series) -> list[str | None]:
    """Values as Python strings, None for nulls (whatever the dtype: object, string or category)."""
    return list(text_array(series))


def text_array(series: pd.Series) -> np.ndarray:
    """:func:`text_values` as an object array, without a Python list of every cell.

    Each distinct value is turned into text once (a code column holds a handful): one Python test per cell
    made exports 20-50 times slower than the Parquet write. Where distinct values might be merged by the
    grouping (True and 1 are one key to a hash), or cannot be grouped (a list in a cell), cell by cell."""
    grouped = _text_codes(series)
    if grouped is None:
        return _objects(_text_cells(series))
    codes, texts = grouped
    return np.array(texts + [None], dtype=object)[codes]  # a null's code is -1: the last slot


def text_column(series: pd.Series) -> pd.Series:
    """:func:`text_array` as a category column of those texts where they are distinct (a code column): a
    text writer (Arrow's CSV) then handles each distinct value once, where 561,000 Python strings cost it
    2 s. A RangeIndex, as the frames the formats build."""
    grouped = _text_codes(series)
    if grouped is None or len(set(grouped[1])) < len(grouped[1]):
        return pd.Series(text_array(series), dtype=object)
    codes, texts = grouped
    return pd.Series(pd.Categorical.from_codes(codes, texts))


def distinct_codes(series: pd.Series) -> set[str]:
    """The distinct non-null values of a column as texts (:func:`text_values`), without a text per cell."""
    grouped = _text_codes(series)
    if grouped is None:
        return {v for v in _text_cells(series) if v is not None}
    codes, texts = grouped
    return {text for text, used in zip(texts, _held(codes, len(texts)), strict=True) if used}


def _held(codes: np.ndarray, size: int) -> np.ndarray:
    """Per text of a grouping, whether a cell holds it (a category column's categories may go unused).
    Nulls (-1) are counted in a slot of their own and dropped: no mask and gather of every cell first."""
    return np.bincount(codes + 1, minlength=size + 1)[1:] > 0


def _text_codes(series: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """(each cell's index into the texts, -1 for null; the texts of the distinct values, or of a category
    column's categories, used or not), or None where the values must be turned into text cell by cell (see
    text_array)."""
    if isinstance(series.dtype, pd.CategoricalDtype):  # its own codes: hashing them again cost ~0.2 s an export
        return series.cat.codes.to_numpy().astype(np.intp), [code_text(v) for v in series.cat.categories]
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells
        return None
    values = list(uniques)
    if series.dtype == object and not all(type(v) is str for v in values):
        return None  # mixed Python objects: equal numbers of different types stay apart
    return codes, [code_text(v) for v in values]


#: a column of texts as (each cell's index into the texts, the texts): how recode_with_text grouped it
Grouping = tuple[np.ndarray, list[str]]


def encoded_texts(column: pd.Series, grouping: Grouping | None = None) -> tuple[np.ndarray, list[bytes]] | None:
    """(each cell's index into the distinct values, those values in UTF-8) of a column of strings without a
    null, as the binary writers store text: each distinct value encoded once. None for any other column.
    ``grouping``: the column's grouping, already made (a ``_code`` companion's, by recode_with_text), where
    hashing its 561,000 Python strings again cost 0.4 s of a Stata or SPSS export."""
    if grouping is None:
        codes, uniques = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)
        if (codes < 0).any() or not all(type(u) is str for u in uniques):
            return None
        return codes, [u.encode("utf-8") for u in uniques]
    codes, texts = grouping
    held = np.flatnonzero(_held(codes, len(texts)))  # only the texts a cell holds: they set a column's width
    renumber = np.zeros(len(texts), dtype=np.intp)
    renumber[held] = np.arange(len(held))
    return renumber[codes], [texts[i].encode("utf-8") for i in held]


def grouped_text(series: pd.Series) -> tuple[np.ndarray, Grouping] | None:
    """A column of text as Stata and SPSS store it, "" for null (neither has a missing string): the object
    array and its grouping ("" last), from one grouping of the column (:func:`text_array`'s), so that the
    binary writers encode each distinct text once (:func:`encoded_texts`) instead of hashing every cell
    again. None where the values must be turned into text cell by cell (mixed Python objects)."""
    grouped = _text_codes(series)
    if grouped is None:
        return None
    return _with_empty(*grouped)


def _with_empty(codes: np.ndarray, distinct: list[str]) -> tuple[pd.Categorical | np.ndarray, Grouping]:
    """The texts of a grouping per cell with "" for a null (-1), and that grouping with "" last. As a category
    column of those texts where they are distinct (the writers read the grouping; a Python string per cell
    cost 0.15 s of a 561,000-row export), else as objects: the writers' fallbacks take objects only
    (:func:`plain_text`)."""
    texts = [*distinct, ""]
    grouping = np.where(codes < 0, len(distinct), codes), texts
    if len(set(texts)) == len(texts):
        return pd.Categorical.from_codes(grouping[0], texts), grouping
    return np.array(texts, dtype=object)[codes], grouping


def is_text(column: pd.Series) -> bool:
    """True for a column of text as the labelled formats' tables hold it: objects, or categories."""
    return column.dtype == object or isinstance(column.dtype, pd.CategoricalDtype)


def plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its category columns as Python strings: how pandas' and pyreadstat's writers (the
    fallbacks for what the whole-column writers leave) take text; a category they would store as numbers."""
    categories = [name for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)]
    return frame.astype(dict.fromkeys(categories, object)) if categories else frame


def recode(values: pd.Series, numbers: Mapping[str, int]) -> pd.arrays.IntegerArray:
    """A column of code texts (None for null) as the numbers ``numbers`` gives them, by distinct value."""
    return recode_with_text(values, numbers, texts=False)[0]


def recode_with_text(
    values: pd.Series, numbers: Mapping[str, int], texts: bool = True
) -> tuple[pd.arrays.IntegerArray, np.ndarray | None]:
    """:func:`recode`, and the code texts with "" for null (Stata's and SPSS's companion column), from one
    grouping of the column, which may hold the codes in any dtype (texts as :func:`text_array` makes them):
    a category column is grouped by its own codes, where its texts as objects cost two passes of hashing
    every cell (0.7 s of a 561,000-row export). ``texts=False``: no companion (a column of plain integer
    codes has none; gathering its texts cell by cell was ~0.1 s of every labelled export)."""
    recoded, companion, _ = _recode(values, numbers, texts)
    return recoded, companion


def recode_grouped(
    values: pd.Series, numbers: Mapping[str, int]
) -> tuple[pd.arrays.IntegerArray, np.ndarray, Grouping]:
    """:func:`recode_with_text` with the companion's grouping (its texts, "" last for null), for the binary
    writers (:func:`encoded_texts`)."""
    recoded, _, grouping = _recode(values, numbers, False)
    return recoded, *_with_empty(*grouping)


def _recode(
    values: pd.Series, numbers: Mapping[str, int], texts: bool
) -> tuple[pd.arrays.IntegerArray, np.ndarray | None, Grouping]:
    """:func:`recode_with_text`, and the grouping of the column it made (-1 for null)."""
    grouped = _text_codes(values)
    if grouped is None:
        codes, uniques = pd.factorize(text_array(values), use_na_sentinel=True)
        grouped = codes, list(uniques)
    codes, distinct = grouped
    # a text twice maps to one number; a category no cell holds may be missing from the plan (0, never read)
    table = np.array([numbers.get(t, 0) for t in distinct] + [0], dtype="int64")
    unplanned = [i for i, t in enumerate(distinct) if t not in numbers]
    if unplanned:
        held = _held(codes, len(distinct))[unplanned]
        if held.any():  # name a text a cell holds, not an unused category before it
            raise KeyError(distinct[unplanned[int(np.argmax(held))]])
    companion = np.array([*distinct, ""], dtype=object)[codes] if texts else None
    return pd.arrays.IntegerArray(table[codes], codes < 0), companion, (codes, distinct)


def _objects(values: list[str | None]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _text_cells(series: pd.Series) -> list[str | None]:
    return [None if _isna(v) else code_text(v) for v in series.astype(object)]


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like cell: not a null
        return False


def is_plain_integer(code: str) -> bool:
    """True when a code can be stored as its own integer without losing anything (no "01", no "F")."""
    return (
        bool(_PLAIN_INT.match(code))
        and str(int(code)) == code
        and (STATA_LABEL_MIN <= int(code) <= STATA_LABEL_MAX)
    )


@dataclass(frozen=True)
class CodePlan:
    """How one coded variable is stored in formats that label numbers (Stata, SPSS) -- see docs/formats.md.

    ``numeric``: every code is a plain integer, stored as that number (111 labelled "Employee").
    Otherwise the codes are numbered 1..K in codebook order (extra codes found in the data follow, sorted),
    each number labelled "CODE label", and the code string is kept in a companion column.
    """

    numeric: bool
    numbers: Mapping[str, int]
    labels: Mapping[int, str]


def plan_codes(columns: Iterable[Column]) -> dict[str, CodePlan]:
    """One plan per coded variable, shared by all its columns (``x``, ``x_next``) in all tables.

    Sharing keeps the numbering identical across suffixed columns and across tables, so researchers can
    compare ``x`` with ``x_next`` directly.
    """
    seen_codes: dict[str, set[str]] = {}
    infos: dict[str, ColumnInfo] = {}
    for col in columns:
        if col.info.coded:
            infos[col.info.name] = col.info
            seen_codes.setdefault(col.info.name, set()).update(distinct_codes(col.series))
    plans: dict[str, CodePlan] = {}
    for name, info in infos.items():
        known = {str(code): str(label) for code, label in (info.value_labels or {}).items()}
        codes = list(known) + sorted(seen_codes[name] - set(known))
        if all(is_plain_integer(code) for code in codes):
            plans[name] = CodePlan(
                numeric=True,
                numbers={code: int(code) for code in codes},
                labels={int(code): label for code, label in known.items()},
            )
        else:
            numbers = {code: i for i, code in enumerate(codes, start=1)}
            labels = {numbers[c]: f"{c} {known[c]}" if known.get(c) else c for c in codes}
            plans[name] = CodePlan(numeric=False, numbers=numbers, labels=labels)
    return plans


def normalize(col: Column, issues: list[Issue]) -> pd.Series:
    """The column in the canonical dtype of its kind, for formats that store only numbers and strings.

    boolean -> Int8 0/1, integer -> Int64, decimal -> float64, coded/string -> object (str or None),
    identifier -> Int64 when numeric else object. Problems are appended to ``issues``.
    """
    s, kind = col.series, col.info.kind
    try:
        if kind == "boolean":
            flags = _plain_booleans(s)
            if flags is not None:  # 0/1 directly: through the nullable boolean type took 1-2 s per export
                return pd.Series(pd.arrays.IntegerArray(*flags), index=s.index)
            return s.astype("boolean").astype("Int8")
        if kind == "integer" or (kind == "identifier" and ptypes.is_numeric_dtype(s.dtype)):
            out = _as_int(s)
            finite = out.dropna()
            if len(finite) and int(finite.abs().max()) > MAX_EXACT_INT:
                issues.append(
                    Issue(
                        "integer-too-large",
                        f"values beyond +/-2^53 cannot be stored exactly as numbers; store {kind} as text",
                        table=col.table,
                        variable=col.name,
                    )
                )
            return out
        if kind == "decimal":
            out = s.astype("float64")
            if np.isinf(out.to_numpy()).any():
                issues.append(
                    Issue(
                        "non-finite", "infinite values cannot be stored", table=col.table, variable=col.name
                    )
                )
            return out
    except (TypeError, ValueError) as exc:
        issues.append(
            Issue(
                "bad-dtype",
                f"dtype {s.dtype} does not fit kind {kind}: {exc}",
                table=col.table,
                variable=col.name,
            )
        )
        return pd.Series([None] * len(s), index=s.index, dtype=object)
    return pd.Series(text_array(s), index=s.index, dtype=object)


def own_array(series: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The series' values as a new frame takes them by position, without a copy: NumPy's own array where
    there is one (from pandas' wrapper of it, a frame tests every text cell for a null: 2.7 ms a column)."""
    return series.array if pd.api.types.is_extension_array_dtype(series.dtype) else series.to_numpy()


#: pandas' nullable arrays: each holds its values and its null mask as two NumPy arrays
MASKED = (pd.arrays.IntegerArray, pd.arrays.BooleanArray, pd.arrays.FloatingArray)


def masked_parts(column: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, null mask) of a nullable column (Int8-64, boolean, Float32/64): the array's own two arrays,
    not copies, so never to be written into; the values under the mask are undefined. None for any other
    column. Each of pandas' conversions (``to_numpy`` with ``na_value``, ``isna``) costs a call of ~50 µs
    and a copy: over the 700 columns of an export, repeated per stage, 0.3 s of a 1.7 s Stata export."""
    array = column.array
    if isinstance(array, MASKED):
        return array._data, array._mask  # the constructor's two arguments; pandas has no public getter
    return None


def _plain_booleans(s: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """(0/1 as int8, null mask) of a column of bools, or of Python bools and nulls (how a nullable boolean
    column comes out of Parquet); None for anything else, which the nullable boolean type then checks."""
    if s.dtype == bool:
        return s.to_numpy().astype("int8"), np.zeros(len(s), dtype=bool)
    parts = masked_parts(s)
    if parts is not None and parts[0].dtype == bool:  # formats.frames reads booleans so: values and mask copied
        return parts[0].astype("int8"), parts[1].copy()
    if s.dtype != object:
        return None
    values = s.to_numpy()
    missing = pd.isna(values)
    present = values[~missing]
    if len(present) and ptypes.infer_dtype(present, skipna=False) != "boolean":  # cell by cell, in C: 1 is no bool
        return None
    out = np.zeros(len(values), dtype="int8")
    out[~missing] = present.astype(bool)
    return out, missing


def _as_int(s: pd.Series) -> pd.Series:
    if ptypes.is_float_dtype(s.dtype):  # whole arrays: a test per cell in Python was ~0.2 s of an export
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        present = values[~missing]
        if not np.isfinite(present).all() or not np.array_equal(present, np.trunc(present)):
            raise ValueError("non-integer values")
        if len(present) and np.abs(present).max() >= 2.0**63:
            raise ValueError("values beyond the 64-bit integers")
        return pd.Series(pd.arrays.IntegerArray(np.where(missing, 0, values).astype("int64"), missing),
                         index=s.index)
    return s.astype("Int64")


def clip(text: str, max_chars: int | None = None, max_bytes: int | None = None) -> str:
    """Shorten a label to a format's limit, marking the cut with "..." (deterministic, UTF-8 safe)."""
    fits = (max_chars is None or len(text) <= max_chars) and (
        max_bytes is None or len(text.encode("utf-8")) <= max_bytes
    )
    if fits:
        return text
    cut = text[: max_chars - 3] if max_chars is not None else text
    while cut and not (
        (max_chars is None or len(cut) + 3 <= max_chars)
        and (max_bytes is None or len(cut.encode("utf-8")) + 3 <= max_bytes)
    ):
        cut = cut[:-1]
    return cut + "..."
