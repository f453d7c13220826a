"""Decode raw columns (as a file format hands them over) into the spec's Arrow types.

Every reader yields raw batches; this module turns each column into the type the engine decodes
(:func:`scrambler.tables.arrow_type`): codes as text in a dictionary over the code list (leading zeros kept,
never a number), booleans from the usual spellings, whole numbers, decimals, and time values in their text
form ("2021-03", "2021Q1"). Work is vectorised with Arrow compute; only a failing column is scanned for the
rows to quote. Problems are collected per file, each naming the file, column, row and value, so a user sees
every bad column of a file at once.

Values that are readable but not in a code list are kept (the dictionary grows by them): whether they are
allowed is the checker's question, and it reports them with the persons' identifiers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from scrambler.errors import Issue
from scrambler.spec.model import Variable

EXAMPLES = 5
#: Spellings of booleans found in extracts (English, Dutch, French; case and surrounding spaces ignored).
TRUE_WORDS = ("true", "t", "yes", "y", "1", "ja", "j", "waar", "oui", "vrai")
FALSE_WORDS = ("false", "f", "no", "n", "0", "nee", "onwaar", "non", "faux")
_INTEGER = r"^[+-]?[0-9]+(\.0*)?$"
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_MONTH_IN = r"^([0-9]{4})[-/]?([0-9]{2})([-/][0-9]{2})?$"
_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_QUARTER_IN = r"^([0-9]{4})-?[Qq]([1-4])$"
_QUARTER = r"^[0-9]{4}Q[1-4]$"
#: Dictionary indexes are int16 like the engine's own tables; more distinct unknown values than fit is
#: not a code column at all.
MAX_DICTIONARY = 32_000


@dataclass
class Problems:
    """Bad values of one file, at most :data:`EXAMPLES` rows quoted per column."""

    file: str
    table: str | None = None
    issues: list[Issue] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, column: str, rows: list[int], values: list[object], total: int, expected: str) -> None:
        if column in self._seen:  # one issue per column (later batches only add rows already counted)
            return
        self._seen.add(column)
        shown = ", ".join(f"row {r}: {_quote(v)}" for r, v in zip(rows, values, strict=False))
        more = f" (+{total - len(rows)} more)" if total > len(rows) else ""
        self.issues.append(Issue(code="type-error", file=self.file, table=self.table, variable=column,
                                 row=", ".join(str(r) for r in rows),
                                 message=f"{total} value(s) are not {expected}: {shown}{more}"))


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Column:
    """One raw column of a batch and where it sits in its file (``first_row``: 1-based row of the batch)."""

    name: str
    values: pa.Array
    first_row: int
    labels: Mapping[float, str] | None = None  # value labels carried by the file (Stata, SPSS)


def _text(arr: pa.Array) -> pa.Array:
    """Any column as trimmed text; empty text is null (CSV, Stata and SPSS have no other missing string)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _report(col: Column, bad: pa.Array, problems: Problems, expected: str) -> None:
    """Record the rows where ``bad`` is true (nulls in ``bad`` count as fine)."""
    bad = pc.fill_null(bad, False)
    total = pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
    if not total:
        return
    where = pc.indices_nonzero(bad).slice(0, EXAMPLES).to_pylist()
    values = [col.values[i].as_py() for i in where]
    problems.add(col.name, [col.first_row + i for i in where], values, total, expected)


def _is_text(arr: pa.Array) -> bool:
    kind = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _is_time(arr: pa.Array) -> bool:
    return pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type)


def number_codes(values: pa.Array, var: Variable, labels: Mapping[float, str] | None) -> pa.Array:
    """Codes stored as numbers, as text. A number is its own code when that code exists (province 10000);
    otherwise its value label names the code (Stata/SPSS exports number "01" as 1 labelled "01 Agriculture",
    keeping the code in a ``_code`` companion that is preferred when present); otherwise a number that lost
    its leading zeros to a numeric column (4000) is the one code with that value ("04000")."""
    codes = var.codes
    known = set(codes)
    by_number: dict[int, list[str]] = {}
    for code in codes:
        if code.isdigit():
            by_number.setdefault(int(code), []).append(code)
    by_label: dict[str, list[str]] = {}
    if var.codelist is not None:
        for code in codes:
            by_label.setdefault(var.codelist.label(code), []).append(code)
    distinct = pc.unique(values.drop_null())
    texts = []
    for number in distinct.to_pylist():
        value = float(number)
        text = str(int(value)) if math.isfinite(value) and value.is_integer() else str(number)
        label = (labels or {}).get(value)
        if text in known:
            texts.append(text)
        elif label is not None and (label in known or label.split(" ", 1)[0] in known):
            texts.append(label if label in known else label.split(" ", 1)[0])
        elif label is not None and len(by_label.get(label, [])) == 1:
            texts.append(by_label[label][0])
        elif text.isdigit() and len(by_number.get(int(text), [])) == 1:
            texts.append(by_number[int(text)][0])
        else:
            texts.append(text)
    return pc.take(pa.array(texts, pa.string()), pc.index_in(values, value_set=distinct))


def encode_codes(text: pa.Array, codes: tuple[str, ...], col: Column, problems: Problems) -> pa.Array:
    """Text codes as a dictionary over the code list, followed by any values not in it (sorted)."""
    dictionary = pa.array(codes, pa.string())
    index = pc.index_in(text, value_set=dictionary)
    unknown = pc.and_(pc.is_valid(text), pc.is_null(index))
    if pc.any(unknown).as_py():
        extra = pc.unique(text.filter(unknown))
        if len(codes) + len(extra) > MAX_DICTIONARY:
            _report(col, unknown, problems, f"codes of the list ({len(extra)} distinct unknown values)")
            extra = extra.slice(0, MAX_DICTIONARY - len(codes))
        dictionary = pa.concat_arrays([dictionary, extra.take(pc.array_sort_indices(extra))])
        index = pc.index_in(text, value_set=dictionary)
    return pa.DictionaryArray.from_arrays(pc.cast(index, pa.int16()), dictionary)


def to_codes(col: Column, var: Variable, problems: Problems) -> pa.Array:
    arr = col.values
    if arr.type == pa.dictionary(pa.int16(), pa.string()) and col.labels is None:
        return arr  # already the engine's form (Parquet written by scrambler): the checker decodes it
    if pa.types.is_boolean(arr.type):
        text = pc.if_else(arr, "true", "false")
    elif _is_text(arr) or pa.types.is_null(arr.type):
        text = _text(arr)
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        text = number_codes(arr, var, col.labels)
    else:
        text = _text(arr)
    return encode_codes(text, var.codes, col, problems)


def to_boolean(col: Column, problems: Problems) -> pa.Array:
    arr = col.values
    if pa.types.is_boolean(arr.type):
        return arr
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        other = pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, value_set=pa.array([0, 1], arr.type))))
        _report(col, other, problems, "booleans (0 or 1)")
        return pc.equal(arr, pa.scalar(1, arr.type))
    text = pc.utf8_lower(_text(arr))
    true, false = pc.is_in(text, value_set=pa.array(TRUE_WORDS)), pc.is_in(text, value_set=pa.array(FALSE_WORDS))
    _report(col, pc.and_(pc.is_valid(text), pc.invert(pc.or_(true, false))), problems,
            f"booleans ({'/'.join(TRUE_WORDS[:4])} or {'/'.join(FALSE_WORDS[:4])})")
    return pc.if_else(pc.is_null(text), pa.scalar(None, pa.bool_()), true)


def to_integer(col: Column, problems: Problems) -> pa.Array:
    arr = col.values
    if pa.types.is_decimal(arr.type):  # SQL numeric
        arr = pc.cast(arr, pa.float64())
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.int64())
    if pa.types.is_floating(arr.type):
        finite = pc.is_finite(arr)
        whole = pc.and_(finite, pc.equal(pc.floor(arr), arr))
        _report(col, pc.invert(whole), problems, "whole numbers")
        return pc.cast(pc.if_else(whole, arr, pa.scalar(None, arr.type)), pa.int64())
    if pa.types.is_boolean(arr.type):
        return pc.cast(arr, pa.int64())
    text = _text(arr)
    ok = pc.match_substring_regex(text, _INTEGER)
    _report(col, pc.invert(ok), problems, "whole numbers")
    clean = pc.replace_substring_regex(pc.if_else(ok, text, pa.scalar(None, pa.string())), r"\.0*$", "")
    return pc.cast(clean, pa.int64())


def to_decimal(col: Column, problems: Problems) -> pa.Array:
    arr = col.values
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        return pc.cast(arr, pa.float64())
    text = _text(arr)
    ok = pc.match_substring_regex(text, _DECIMAL)
    _report(col, pc.invert(ok), problems, "numbers")
    return pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())


def to_time(col: Column, var: Variable, problems: Problems) -> pa.Array:
    """year_month as "YYYY-MM" (from "2021-03", "202103", "2021/03", a date, or the number 202103) and
    year_quarter as "YYYYQn" (from "2021Q1", "2021-Q1", "2021q1")."""
    arr = col.values
    if _is_time(arr):
        stamp = arr if pa.types.is_timestamp(arr.type) else pc.cast(arr, pa.timestamp("s"))
        if var.type == "year_month":
            return pc.strftime(stamp, format="%Y-%m")
        quarter = pc.cast(pc.quarter(stamp), pa.string())
        return pc.binary_join_element_wise(pc.strftime(stamp, format="%Y"), quarter, "Q")
    if pa.types.is_floating(arr.type):
        arr = to_integer(Column(col.name, arr, col.first_row), problems)
    text = _text(arr)
    if var.type == "year_month":
        text, valid, expected = pc.replace_substring_regex(text, _MONTH_IN, r"\1-\2"), _MONTH, "year-months (2021-03)"
    else:
        text, valid, expected = pc.replace_substring_regex(text, _QUARTER_IN, r"\1Q\2"), _QUARTER, "quarters (2021Q1)"
    ok = pc.match_substring_regex(text, valid)
    _report(col, pc.invert(ok), problems, expected)
    return pc.if_else(ok, text, pa.scalar(None, pa.string()))


def conform(col: Column, var: Variable, problems: Problems) -> pa.Array:
    """The column in the engine's type for ``var`` (:func:`scrambler.tables.arrow_type`)."""
    try:
        return _conform(col, var, problems)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # no exception text: it may quote cell values
        problems.issues.append(Issue(code="type-error", file=problems.file, table=problems.table,
                                     variable=col.name, message=f"a column of type {col.values.type} cannot "
                                     f"hold {var.type} values (variable {var.name})"))
        return col.values


def needs_decoding(values: pa.Array, var: Variable) -> bool:
    """For a typed format (Parquet): only codes stored as numbers need this module; every other column goes
    to the checker as stored, which reports a wrong type with the persons' identifiers."""
    return var.is_categorical and var.type != "boolean" and (
        pa.types.is_integer(values.type) or pa.types.is_floating(values.type))


def _conform(col: Column, var: Variable, problems: Problems) -> pa.Array:
    if var.type == "boolean":
        return to_boolean(col, problems)
    if var.is_categorical:
        return to_codes(col, var, problems)
    if var.type in ("integer", "year", "identifier"):
        return to_integer(col, problems)
    if var.type == "decimal":
        return to_decimal(col, problems)
    return to_time(col, var, problems)


def infer(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Without a spec: text that is entirely whole numbers without leading zeros becomes int64, entirely
    decimals float64, entirely true/false bool; anything else stays text, so codes keep their zeros ("01")."""
    arr = values.combine_chunks()
    if pa.types.is_floating(arr.type):
        finite = arr.drop_null()
        if len(finite) and pc.all(pc.and_(pc.is_finite(finite), pc.equal(pc.floor(finite), finite))).as_py():
            return pa.chunked_array([pc.cast(arr, pa.int64())])
        return values
    if not _is_text(arr):
        return values
    text = _text(arr)
    present = text.drop_null()
    if not len(present):
        return pa.chunked_array([text])
    if pc.all(pc.match_substring_regex(present, r"^[+-]?(0|[1-9][0-9]{0,17})$")).as_py():
        return pa.chunked_array([pc.cast(text, pa.int64())])
    if pc.all(pc.match_substring_regex(present, r"^[+-]?(0|[1-9][0-9]*)\.[0-9]+$")).as_py():
        return pa.chunked_array([pc.cast(text, pa.float64())])
    if pc.all(pc.is_in(pc.utf8_lower(present), value_set=pa.array(["true", "false"]))).as_py():
        return pa.chunked_array([pc.equal(pc.utf8_lower(text), "true")])
    return pa.chunked_array([text])
