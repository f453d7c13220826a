"""A Stata 118 (.dta) writer for tables of numbers and short strings, whole columns at a time.

pandas' ``to_stata`` encodes and pads every text cell in Python (19 of the 26 s of a 562,000-row export);
here a text column is encoded once per distinct value and gathered into fixed-width bytes, and every
table is one NumPy record array written in one call. The layout is the one pandas writes for the same
frame, byte for byte (the tests compare the two files): the header, the map of offsets, the variable
types (strN, byte, int, long or double), names, sort list, display formats, value-label names, variable
labels, the data, an empty strL block and the value-label tables. Text longer than a strN holds (2,045 bytes) needs strLs,
which this writer leaves to pandas (:func:`prepare` returns None).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

import numpy as np
import pandas as pd

from scrambler.formats._common import masked_parts
from scrambler.formats._texts import Grouping, encoded_texts, is_text

VERSION = 118
MAX_STR = 2045  #: longest str# column in bytes; longer text must be a strL (pandas writes those)
DOUBLE = 65526  # Stata's type code for a double
MISSING_DOUBLE = struct.unpack("<d", b"\x00\x00\x00\x00\x00\x00\xe0\x7f")[0]  # system missing "."
NAME_BYTES = 129  # 32 characters of up to 4 bytes, plus the terminating null
FORMAT_BYTES = 57
LABEL_BYTES = 321
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: rows of the record array filled at a time, column by column: each column written into all 93,000 rows
#: of a table sends one cache line per row to memory, and the next column fetches them again (0.13 s a
#: table of 150 columns); a block of 4,096 rows (~2 MB) stays in the cache while its columns are filled
#: (0.025 s)
FILL_ROWS = 4096
MAP_TAGS = (
    "stata_data", "map", "variable_types", "varnames", "sortlist", "formats", "value_label_names",
    "variable_labels", "characteristics", "data", "strls", "value_labels", "stata_data_close", "end-of-file",
)


@dataclass(frozen=True)
class IntegerType:
    """One of Stata's integer storage types: its NumPy type, type code, display format (pandas') and the
    values it holds; the values above are its missing values, the first of them system missing "."."""

    numpy: str
    code: int
    display: str
    low: int
    high: int

    @property
    def missing(self) -> int:
        return self.high + 1


#: Stata's integer types by the pandas nullable dtype that holds them, smallest first (stata.storage picks one)
INTEGERS: dict[str, IntegerType] = {
    "Int8": IntegerType("<i1", 65530, "%8.0g", -127, 100),
    "Int16": IntegerType("<i2", 65529, "%8.0g", -32767, 32740),
    "Int32": IntegerType("<i4", 65528, "%12.0g", -2_147_483_647, 2_147_483_620),
}


def _fits(column: pd.Series, ranged: bool) -> bool:
    """True for a float64 column (no value Stata would read as missing), a nullable Int8/16/32 one within
    its type's range (beyond it pandas widens the type; ``ranged``: known to be), or one of strings, none
    null."""
    kind = INTEGERS.get(str(column.dtype))
    if kind is not None and ranged:
        return True
    if kind is not None:
        low, high = column.min(skipna=True), column.max(skipna=True)
        return bool(pd.isna(low) or (kind.low <= low and high <= kind.high))
    if column.dtype == np.float64:
        values = column.to_numpy()
        finite = values[~np.isnan(values)]
        return not (len(finite) and np.abs(finite).max() >= MISSING_DOUBLE)  # pandas refuses those
    return is_text(column)


def prepare(frame: pd.DataFrame, groupings: Mapping[str, Grouping] | None = None,
            ranged: bool = False) -> Records | None:
    """The data as one record array with each column's Stata type and display format; None where a column
    is not a number Stata stores nor text of strings of at most 2,045 bytes (pandas' writer then takes the
    table). ``groupings``: text columns already grouped (see encoded_texts); ``ranged``: each Int8/16/32
    column's type was chosen by its values' range (stata.frame_for_stata), so it is not measured again."""
    fields, types, formats, columns = [], [], [], []
    for name in frame.columns:
        column = frame[name]
        if not _fits(column, ranged):
            return None
        kind = INTEGERS.get(str(column.dtype))
        if kind is not None:
            data, missing = masked_parts(column)  # type: ignore[misc]  # an Int8/16/32 column is masked
            values = np.where(missing, kind.missing, data).astype(kind.numpy, copy=False)
            fields.append((name, kind.numpy))
            types.append(kind.code)
            formats.append(kind.display)
        elif column.dtype == np.float64:
            values = column.to_numpy(dtype="<f8", copy=True)
            values[np.isnan(values)] = MISSING_DOUBLE
            fields.append((name, "<f8"))
            types.append(DOUBLE)
            formats.append("%10.0g")
        else:
            text = encoded_texts(column, (groupings or {}).get(name))
            if text is None:
                return None
            codes, uniques = text
            width = max([1] + [len(b) for b in uniques])
            if width > MAX_STR:
                return None
            values = np.array(uniques, dtype=f"S{width}")[codes]  # null-padded, as Stata reads it
            fields.append((name, f"S{width}"))
            types.append(width)
            formats.append(f"%{width}s")
        columns.append(values)
    records = np.empty(len(frame), dtype=np.dtype(fields))
    for start in range(0, len(frame), FILL_ROWS):  # a block of rows at a time: see FILL_ROWS
        block = records[start:start + FILL_ROWS]
        for (name, _), values in zip(fields, columns, strict=True):
            block[name] = values[start:start + FILL_ROWS]
    return Records(records, types, formats)


@dataclass(frozen=True)
class Records:
    """A table as Stata stores it: the rows, and per column its type code and display format."""

    rows: np.ndarray
    types: list[int]
    formats: list[str]


def _pad(raw: bytes, size: int) -> bytes:
    return raw[:size].ljust(size, b"\x00")


def _tag(body: bytes, tag: str) -> bytes:
    return f"<{tag}>".encode() + body + f"</{tag}>".encode()


def _value_label(name: str, labels: Mapping[float, str]) -> bytes:
    """One ``<lbl>`` table: values in increasing order, texts null-terminated."""
    items = sorted(labels.items())
    texts = [str(text).encode("utf-8") for _, text in items]
    offsets = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]]).astype("<i4") if texts else np.array([], "<i4")
    text_len = sum(len(t) + 1 for t in texts)
    body = (struct.pack("<ii", len(items), text_len) + offsets.tobytes()
            + np.array([v for v, _ in items], dtype="<i4").tobytes() + b"".join(t + b"\x00" for t in texts))
    return _tag(struct.pack("<i", len(body)) + _pad(name[:32].encode("utf-8"), NAME_BYTES) + b"\x00" * 3 + body,
                "lbl")


def write_dta(
    frame: pd.DataFrame,
    prepared: Records,
    handle: BinaryIO,
    data_label: str,
    variable_labels: Mapping[str, str],
    value_labels: Mapping[str, Mapping[float, str]],
    time_stamp: datetime | None = None,
) -> None:
    """Write ``frame`` as prepared by :func:`prepare` to ``handle``, as a format-118 file."""
    records, types, formats = prepared.rows, prepared.types, prepared.formats
    names = [str(n) for n in frame.columns]
    stamp = time_stamp or datetime.now()
    stamp_text = f"{stamp:%d} {MONTHS[stamp.month - 1]} {stamp:%Y %H:%M}"
    label = data_label[:80].encode("utf-8")
    header = (_tag(str(VERSION).encode(), "release") + _tag(b"LSF", "byteorder")
              + _tag(struct.pack("<H", len(names)), "K") + _tag(struct.pack("<Q", len(frame)), "N")
              + _tag(struct.pack("<H", len(label)) + label, "label")
              + _tag(b"\x11" + stamp_text.encode(), "timestamp"))
    blocks = [
        ("variable_types", _tag(np.array(types, dtype="<u2").tobytes(), "variable_types")),
        ("varnames", _tag(b"".join(_pad(n[:32].encode("utf-8"), NAME_BYTES) for n in names), "varnames")),
        ("sortlist", _tag(b"\x00" * 2 * (len(names) + 1), "sortlist")),
        ("formats", _tag(b"".join(_pad(f.encode(), FORMAT_BYTES) for f in formats), "formats")),
        ("value_label_names", _tag(b"".join(_pad(n[:32].encode("utf-8") if n in value_labels else b"", NAME_BYTES)
                                            for n in names), "value_label_names")),
        ("variable_labels", _tag(b"".join(_pad(variable_labels.get(n, "").encode("utf-8"), LABEL_BYTES)
                                          for n in names), "variable_labels")),
        ("characteristics", _tag(b"", "characteristics")),
        ("data", b""),  # written from the record array itself, not copied into a block
        ("strls", _tag(b"", "strls")),
        ("value_labels", _tag(b"".join(_value_label(n, value_labels[n]) for n in value_labels), "value_labels")),
    ]
    start = b"<stata_dta>" + _tag(header, "header")
    offsets = {"stata_data": 0, "map": len(start)}
    position = len(start) + len(_tag(b"\x00" * 8 * len(MAP_TAGS), "map"))
    data_bytes = len(b"<data></data>") + records.nbytes
    for tag, block in blocks:
        offsets[tag] = position
        position += data_bytes if tag == "data" else len(block)
    offsets["stata_data_close"] = position
    offsets["end-of-file"] = position + len(b"</stata_dta>")
    handle.write(start)
    handle.write(_tag(np.array([offsets[t] for t in MAP_TAGS], dtype="<u8").tobytes(), "map"))
    for tag, block in blocks:
        if tag == "data":
            handle.write(b"<data>")
            handle.write(records.view(np.uint8).data if len(records) else b"")
            handle.write(b"</data>")
        else:
            handle.write(block)
    handle.write(b"</stata_dta>")
