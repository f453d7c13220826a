"""An SPSS (.sav) writer for tables of doubles, nullable integers and short strings, whole columns at a time.

pyreadstat's ``write_sav`` hands every cell to ReadStat from a Python loop (with a null test per cell): 22 s
for 562,000 rows. Here a table is turned into 8-byte slots by NumPy (a text column encoded once per distinct
value) and compressed with SPSS's bytecode scheme on whole arrays (a nullable integer column is coded as the
doubles it holds, without being copied into doubles). The file is the one pyreadstat writes for
the same frame and arguments, byte for byte apart from the creation time in the header (the tests compare the
two; a .zsav's blocks are deflated by zlib-ng, not zlib, so there they compare the blocks inflated): header,
variable records (with continuation records for strings longer than 8 bytes), value labels, the document
record, the machine, display, long-name and case-count records, then the rows, each row's codes padded to a
block of eight as ReadStat does, and the end-of-data code. Text longer than 255 bytes (very long
strings, written in segments), notes longer than a document line and NUL characters are left to pyreadstat
(:func:`prepare` returns None).
"""

from __future__ import annotations

import functools
import re
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd
from zlib_ng import zlib_ng

from scrambler.formats._common import masked_parts
from scrambler.formats._texts import Grouping, encoded_texts, is_text

MAX_STRING = 255
MAX_LABEL = 256  # bytes of a variable label ReadStat keeps
MAX_VALUE_LABEL = 120
DOC_LINE = 80
PRODUCT = b"@(#) SPSS DATA FILE - https://github.com/WizardMac/ReadStat"
FORMAT_TYPES = {"A": 1, "F": 5}
MEASURES = {"unknown": 0, "nominal": 1, "ordinal": 2, "scale": 3}
BIAS = 100
SPACES = np.frombuffer(b" " * 8, dtype="<u8")[0]
SYSMIS = np.uint64(0xFFEFFFFFFFFFFFFF)
#: rows turned into bytecode at a time: each column is written into every row of the chunk, so a chunk's codes
#: (~150 bytes a row) and raw slots should stay in the cache while its columns are filled: 2,048 rows took
#: half the time of 32,768 (which wrote tens of MB per column pass)
CHUNK_ROWS = 1 << 11
ZLIB_BLOCK = 0x3FF000  #: bytes of bytecode per deflated block of a .zsav file (SPSS's and ReadStat's size)
#: zlib's default level, which ReadStat uses; deflated by zlib-ng, whose level 6 took 0.6 of zlib's time and
#: wrote 2% fewer bytes on the 1,000,000 -> 100,000 output's bytecode (any zlib inflater reads its streams)
ZLIB_LEVEL = 6


@dataclass(frozen=True)
class Variable:
    """One column as the dictionary describes it."""

    name: str
    short: str
    width: int  # 0 for a number, else the string's width in bytes (1..255)
    format: int  # (type << 16) | (width << 8) | decimals
    slots: int  # 8-byte slots the variable takes in a row


@dataclass(frozen=True)
class Number:
    """A number column as bytecode: per row its code (see :func:`_codes`), and its value as a double where the
    code is 253 (the raw slot follows); ``raw`` None when no row needs one."""

    code: np.ndarray
    raw: np.ndarray | None


@dataclass(frozen=True)
class Text:
    """A text column: per row the index of its value, and per distinct value its 8-byte slots and their codes
    (254 for eight spaces, 253 for a raw slot)."""

    index: np.ndarray
    slots: np.ndarray
    codes: np.ndarray


@dataclass(frozen=True)
class Prepared:
    """A table as SPSS stores it: its variables and, per column, its bytecodes and raw slots."""

    variables: list[Variable]
    columns: list[Number | Text]

    @functools.cached_property
    def width(self) -> int:
        """8-byte slots in a row."""
        return sum(v.slots for v in self.variables)

    @functools.cached_property
    def raw_slots(self) -> np.ndarray:
        """The slots of a row that may hold a raw value (code 253): a text's, and a number's that has any."""
        out: list[int] = []
        at = 0
        for variable, column in zip(self.variables, self.columns, strict=True):
            if isinstance(column, Text) or column.raw is not None:
                out.extend(range(at, at + variable.slots))
            at += variable.slots
        return np.array(out, dtype=np.intp)


def _format(text: str) -> int | None:
    match = re.fullmatch(r"([AF])(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return (FORMAT_TYPES[match[1]] << 16) | (min(int(match[2]), 255) << 8) | int(match[3] or 0)


def _base36(number: int) -> bytes:
    digits = b""
    while number:
        number, digit = divmod(number, 36)
        digits = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit:digit + 1] + digits
    return digits


def _short_names(names: list[str]) -> list[str]:
    """SPSS's 8-byte names as ReadStat makes them: the first 8 bytes in capitals, else V1, ..., V9, VA, ...
    (a count in base 36)."""
    out: list[str] = []
    used: set[bytes] = set()
    counter = 0
    for name in names:
        short = name.encode("utf-8")[:8].upper()
        while short in used:
            counter += 1
            short = b"V" + _base36(counter)
        used.add(short)
        out.append(short.decode("utf-8", errors="surrogateescape"))
    return out


def prepare(frame: pd.DataFrame, formats: Mapping[str, str], note: str, labels: Iterable[str] = (),
            groupings: Mapping[str, Grouping] | None = None) -> Prepared | None:
    """The table's variables and slots; None where pyreadstat must write it (see the module docstring, and
    a NUL character in a text or label, which ReadStat reads as the end of a C string). ``groupings``: text
    columns already grouped (see encoded_texts)."""
    if len(note.encode("utf-8")) > DOC_LINE or any("\x00" in text for text in (note, *labels)):
        return None
    names = [str(n) for n in frame.columns]
    variables: list[Variable] = []
    columns: list[Number | Text] = []
    for name, short in zip(names, _short_names(names), strict=True):
        column = frame[name]
        number = _number(column)
        if number is not None:
            code = _format(formats.get(name, "F8.2"))
            if code is None:
                return None
            variables.append(Variable(name, short, 0, code, 1))
            columns.append(number)
            continue
        if not is_text(column):
            return None
        text = encoded_texts(column, (groupings or {}).get(name))
        if text is None or any(b"\x00" in b for b in text[1]):
            return None
        codes, encoded = text
        width = max([1] + [len(b) for b in encoded])
        if width > MAX_STRING or name in formats:
            return None
        slots = (width + 7) // 8
        padded = b"".join(b.ljust(slots * 8, b" ") for b in encoded)
        table = np.frombuffer(padded, dtype="<u8").reshape(len(encoded), slots)
        if not len(table):  # no rows: nothing is gathered from it, but a row of spaces keeps the shapes
            table = np.full((1, slots), SPACES, "<u8")
        variables.append(Variable(name, short, width, (1 << 16) | (width << 8), slots))
        columns.append(Text(codes, table, np.where(table == SPACES, 254, 253).astype(np.uint8)))
    return Prepared(variables, columns)


def _number(column: pd.Series) -> Number | None:
    """The bytecode of a column of doubles, or of whole numbers in a nullable integer column (codes, booleans,
    years: the bytes of those numbers as doubles, without a copy as doubles); None for any other column."""
    parts = masked_parts(column)
    if parts is not None and parts[0].dtype.kind in "iub":
        data, missing = parts
        if len(data) and -BIAS < data.min() and data.max() < 252 - BIAS:  # codes, booleans: one shift each
            # (a byte's -99..127 plus 100 stays within a byte, so the sum is taken on its unsigned view)
            code = data.view(np.uint8) + np.uint8(BIAS) if data.itemsize == 1 else (data + BIAS).astype(np.uint8)
            np.copyto(code, np.uint8(255), where=missing)
            return Number(code, None)
        small = (data > -BIAS) & (data < 252 - BIAS)
        shifted = np.where(small, data, 0).astype(np.int16) + BIAS  # an Int8 column's 100 + 100 would wrap
        code = np.where(missing, 255, np.where(small, shifted, 253)).astype(np.uint8)
        raw = data.astype("<f8").view("<u8") if (code == 253).any() else None
        return Number(code, raw)
    if column.dtype != np.float64:
        return None
    return Number(*_codes(column.to_numpy(dtype="<f8")))


def _codes(number: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(per value its code: 255 system missing, 1-251 a whole number -99..151 plus 100, 253 the raw slot
    follows; the values' raw slots, None when no code is 253)."""
    raw = number.view("<u8")
    whole = np.isfinite(number) & (number == np.floor(number)) & (number > -BIAS) & (number < 252 - BIAS)
    small = np.where(whole, number, 0).astype(np.int64) + BIAS
    # -DBL_MAX is SPSS's system-missing pattern itself: ReadStat codes it missing too
    missing = np.isnan(number) | (raw == SYSMIS)
    code = np.where(missing, 255, np.where(whole, small, 253)).astype(np.uint8)
    return code, raw if (code == 253).any() else None


def _slots(prepared: Prepared, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(bytecodes, raw slots) of rows ``start:stop``, each column's codes computed once (:func:`prepare`):
    a row's codes padded with zeros to whole blocks of eight (see :func:`_compress`), and the values of the
    slots ``Prepared.raw_slots`` names, in its order."""
    rows = stop - start
    code = np.zeros((rows, (prepared.width // 8 + 1) * 8), dtype=np.uint8)
    raw = np.empty((rows, len(prepared.raw_slots)), dtype="<u8")
    at = raw_at = 0
    for variable, column in zip(prepared.variables, prepared.columns, strict=True):
        if isinstance(column, Number):
            code[:, at] = column.code[start:stop]
            if column.raw is not None:
                raw[:, raw_at] = column.raw[start:stop]
                raw_at += 1
        else:
            index = column.index[start:stop]
            raw[:, raw_at:raw_at + variable.slots] = column.slots[index]
            code[:, at:at + variable.slots] = column.codes[index]
            raw_at += variable.slots
        at += variable.slots
    return code, raw


def _compress(code: np.ndarray, raw: np.ndarray, raw_slots: np.ndarray, width: int, last: bool) -> bytes:
    """Bytecode blocks of these rows, as ReadStat writes them: a row's ``width`` codes fill blocks of eight and
    the block open at the row's end is written too, padded with zeros (so a row of 8 slots takes two blocks);
    each block is followed by the raw slots its 253s announce. The end-of-data code 252 follows the last
    row's codes, in that open block. Only the slots that may hold a raw value are searched for one."""
    rows, padded_width = code.shape
    row_blocks = padded_width // 8
    if last and rows:
        code[-1, width] = 252
    blocks = code.reshape(-1, 8).view("<u8").ravel()
    is_raw = code[:, raw_slots] == 253
    raw_values = raw[is_raw]
    rows_of, which = np.nonzero(is_raw)  # row-major: the order the slots are written in
    block_of = rows_of * row_blocks + raw_slots[which] // 8
    raws_before = np.zeros(len(blocks) + 1, dtype=np.int64)
    np.cumsum(np.bincount(block_of, minlength=len(blocks)), out=raws_before[1:])
    out = np.empty(len(blocks) + len(raw_values), dtype="<u8")
    out[np.arange(len(blocks)) + raws_before[:-1]] = blocks
    out[np.arange(len(raw_values)) + block_of + 1] = raw_values
    return out.tobytes()


def _cut(text: str, limit: int) -> bytes:
    """At most ``limit`` bytes of UTF-8, never half a character (as ReadStat cuts labels)."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore").encode("utf-8")


def _int(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def _dictionary(prepared: Prepared, rows: int, file_label: str, column_labels: Mapping[str, str], note: str,
                value_labels: Mapping[str, Mapping[float, str]], measures: Mapping[str, str],
                zlib_blocks: bool = False) -> bytes:
    variables = prepared.variables
    width = prepared.width
    now = time.localtime()
    stamp = time.strftime("%d ", now) + ("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[now.tm_mon - 1]
                                         + time.strftime(" %y%H:%M:%S", now))
    file_text = file_label.encode("utf-8")[:64].ljust(64, b" ")
    compression, magic = (2, b"$FL3") if zlib_blocks else (1, b"$FL2")  # bytecode in zlib blocks, or bytecode
    parts = [magic, PRODUCT.ljust(60, b" "), _int(2, width, compression, 0, rows), struct.pack("<d", BIAS),
             stamp.encode(), file_text, b"\x00" * 3]
    index, offsets = 1, {}
    for v in variables:
        offsets[v.name] = index
        text = _cut(column_labels.get(v.name, ""), MAX_LABEL)
        parts.append(_int(2, v.width, 1 if text else 0, 0, v.format, v.format))
        parts.append(v.short.encode("utf-8", errors="surrogateescape").ljust(8, b" "))
        if text:
            parts += [_int(len(text)), text.ljust(-(-len(text) // 4) * 4, b" ")]
        for _ in range(v.slots - 1):
            parts += [_int(2, -1, 0, 0, 0x011D01, 0x011D01), b" " * 8]
        index += v.slots
    for v in variables:
        labels = value_labels.get(v.name)
        if not labels:
            continue
        parts.append(_int(3, len(labels)))
        for value, text_label in labels.items():
            raw = _cut(str(text_label), MAX_VALUE_LABEL)
            parts += [struct.pack("<dB", float(value), len(raw)), raw.ljust(-(-(len(raw) + 1) // 8) * 8 - 1, b" ")]
        parts.append(_int(4, 1, offsets[v.name]))
    if note:
        parts += [_int(6, 1), note.encode("utf-8").ljust(DOC_LINE, b" ")]
    parts += [_int(7, 3, 4, 8, 20, 0, 0, -1, 1, 1, 2, 65001),
              _int(7, 4, 8, 3), struct.pack("<QQQ", 0xFFEFFFFFFFFFFFFF, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFE),
              _int(7, 20, 1, 5), b"UTF-8",
              _int(7, 11, 4, 3 * len(variables))]
    parts += [_int(MEASURES[measures.get(v.name, "unknown")], 8, 0 if v.width else 1) for v in variables]
    names = "\t".join(f"{v.short}={v.name}" for v in variables).encode("utf-8", errors="surrogateescape")
    parts += [_int(7, 13, 1, len(names)), names, _int(7, 16, 8, 2), struct.pack("<QQ", 1, rows), _int(999, 0)]
    return b"".join(parts)


def write_sav(prepared: Prepared, rows: int, handle: BinaryIO, file_label: str, column_labels: Mapping[str, str],
              note: str, value_labels: Mapping[str, Mapping[float, str]], measures: Mapping[str, str],
              zlib_blocks: bool = False) -> None:
    """Write a prepared table, bytecode-compressed, to ``handle``; with ``zlib_blocks`` as a .zsav file (the
    bytecode stream cut into blocks, each deflated: see :func:`_zlib_data`)."""
    dictionary = _dictionary(prepared, rows, file_label, column_labels, note, value_labels, measures, zlib_blocks)
    handle.write(dictionary)
    chunks = (_compress(*_slots(prepared, start, min(start + CHUNK_ROWS, rows)), prepared.raw_slots, prepared.width,
                        last=start + CHUNK_ROWS >= rows)
              for start in range(0, rows, CHUNK_ROWS))
    if zlib_blocks:
        handle.write(_zlib_data(chunks, len(dictionary)))
        return
    for chunk in chunks:
        handle.write(chunk)


def _zlib_data(chunks: Iterable[bytes], offset: int) -> bytes:
    """The data part of a .zsav file beginning at byte ``offset``, as ReadStat (pyreadstat's ``compress``)
    lays it out: the bytecode stream in blocks of ZLIB_BLOCK bytes, each one zlib stream (zlib-ng's, level 6);
    before them the offsets of the blocks and of the trailer; after them the trailer (the bias, the block
    size, and each block's place and size, uncompressed and compressed). Blocks are deflated as the stream
    fills them: only the compressed ones are held (the trailer's offsets come first in the file)."""
    pending = bytearray()
    blocks: list[tuple[int, bytes]] = []  # (uncompressed size, deflated block)

    def deflate(size: int) -> None:
        blocks.append((size, zlib_ng.compress(bytes(pending[:size]), ZLIB_LEVEL)))
        del pending[:size]

    for chunk in chunks:
        pending += chunk
        while len(pending) >= ZLIB_BLOCK:
            deflate(ZLIB_BLOCK)
    if pending:
        deflate(len(pending))
    trailer = [struct.pack("<qqii", -BIAS, 0, ZLIB_BLOCK, len(blocks))]
    plain, packed = offset, offset + 24
    for size, block in blocks:
        trailer.append(struct.pack("<qqii", plain, packed, size, len(block)))
        plain, packed = plain + size, packed + len(block)
    header = struct.pack("<QQQ", offset, packed, 24 + 24 * len(blocks))
    return b"".join([header, *(block for _, block in blocks), *trailer])
