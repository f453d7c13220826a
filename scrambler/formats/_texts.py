"""Text columns grouped once: every distinct value of a column turned into text, numbered and encoded once.

A code column holds a handful of distinct values in hundreds of thousands of cells, so the exporters never
handle text cell by cell: a column is grouped (its category codes, or one hash of its cells) into each cell's
index and the distinct texts, and that grouping serves the recoding to numbers, the ``_code`` companions and
the bytes the binary writers store. One Python test per cell made exports 20-50 times slower than the
Parquet write.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


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
    return np.bincount(codes.astype(np.intp, copy=False) + 1, minlength=size + 1)[1:] > 0


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
    (:func:`plain_text`). The grouping of a category column is its own small codes: kept beside it as
    indices (8 bytes a cell), they were 150 MB of an export's tables."""
    texts = [*distinct, ""]
    indices = np.where(codes < 0, len(distinct), codes)
    if len(set(texts)) == len(texts):
        column = pd.Categorical.from_codes(indices, texts)
        return column, (column.codes, texts)
    return np.array(texts, dtype=object)[codes], (indices, texts)


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
) -> tuple[pd.arrays.IntegerArray, pd.Categorical | np.ndarray | None]:
    """:func:`recode`, and the code texts with "" for null (Stata's and SPSS's companion column, as
    :func:`recode_grouped` makes it), from one grouping of the column, which may hold the codes in any dtype
    (texts as :func:`text_array` makes them): a category column is grouped by its own codes, where its texts
    as objects cost two passes of hashing every cell (0.7 s of a 561,000-row export). ``texts=False``: no
    companion (a column of plain integer codes has none; gathering its texts cell by cell was ~0.1 s of
    every labelled export)."""
    if not texts:
        return _recode(values, numbers)[0], None
    recoded, companion, _ = recode_grouped(values, numbers)
    return recoded, companion


def recode_grouped(
    values: pd.Series, numbers: Mapping[str, int]
) -> tuple[pd.arrays.IntegerArray, pd.Categorical | np.ndarray, Grouping]:
    """:func:`recode`, the companion column (:func:`_with_empty`) and its grouping (its texts, "" last for
    null), for the binary writers (:func:`encoded_texts`)."""
    recoded, grouping = _recode(values, numbers)
    return recoded, *_with_empty(*grouping)


def _recode(values: pd.Series, numbers: Mapping[str, int]) -> tuple[pd.arrays.IntegerArray, Grouping]:
    """:func:`recode`, and the grouping of the column it made (-1 for null)."""
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
    return pd.arrays.IntegerArray(_narrow(table)[codes], codes < 0), (codes, distinct)


def _narrow(numbers: np.ndarray) -> np.ndarray:
    """The numbers in the smallest signed integer type that holds them: a recoded column as int64 took 0.75 MB
    per 93,000 rows where a byte does, about 0.5 GB of fresh pages over an export's 700 columns (a first
    export in a process spent 0.9 s of system time faulting them in)."""
    for kind in (np.int8, np.int16, np.int32):
        bounds = np.iinfo(kind)
        if bounds.min <= numbers.min() and numbers.max() <= bounds.max:
            return numbers.astype(kind)
    return numbers


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
