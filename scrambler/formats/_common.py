"""Checks and conversions shared by the exporters.

Everything here runs *before* the first file is published, and every problem is collected into one
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
from scrambler.formats._texts import distinct_codes, text_array
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
    if parts is not None and parts[0].dtype == bool:  # formats.frames reads booleans so
        # its own values and mask, the values seen as bytes: no copy (nothing writes into an export's columns;
        # copies of the 435 boolean columns of an export were 78 MB of fresh pages)
        return parts[0].view(np.int8), parts[1]
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
