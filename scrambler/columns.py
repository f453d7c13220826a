"""One Arrow column -> the panel's values: codes for categoricals and booleans (-1 null), float64 for numbers
and time values (NaN null), each problem an Issue naming the table, column and rows.

Arrow's compute kernels allocate from Arrow's pool, and under jemalloc (the command's pool, for its lean
memory) each 7-million-row result cost twice what it costs under mimalloc: casting and null-filling the
boolean, coded and numeric columns was ~17 s of a 7.5 million-person read. Booleans, dictionary indices and
numbers are therefore read from the Arrow buffers by numpy (tested against Arrow's kernels); other types go
through Arrow's casts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scrambler.errors import Issue
from scrambler.panel import CODE_DTYPE, FLOAT32_EXACT, small_whole
from scrambler.spec.model import TIME_GRAIN, Variable
from scrambler.spec.time import parse_period

EXAMPLES = 5  # rows an issue names
EXACT_INTEGER = 2**53  # the largest whole number every float64 below it holds exactly


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """n bits of an Arrow bitmap from bit ``offset``, as uint8 0/1."""
    packed = np.frombuffer(buffer, dtype=np.uint8, count=(offset + n + 7) // 8)[offset // 8:]
    bits = np.unpackbits(packed, count=n + offset % 8, bitorder="little")
    return bits[offset % 8:]


def _valid(arr: pa.Array) -> np.ndarray | None:
    """Which slots hold a value (uint8 0/1), None when none is null."""
    if arr.null_count == 0:
        return None
    return _bits(arr.buffers()[0], arr.offset, len(arr))


def _boolean_codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """false 0, true 1, null -1, from the bitmaps (bits under a null count as false, whatever they hold)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = np.empty(len(column), dtype=CODE_DTYPE)
    at = 0
    for chunk in chunks:
        n = len(chunk)
        if n:
            bits = _bits(chunk.buffers()[1], chunk.offset, n)
            valid = _valid(chunk)
            if valid is not None:
                bits &= valid
                bits += valid  # 0 null, 1 false, 2 true: minus one below
            np.copyto(out[at:at + n], bits, casting="unsafe")
            if valid is not None:
                out[at:at + n] -= 1
        at += n
    return out


def _indices(indices: pa.Array) -> np.ndarray:
    """Dictionary indices as numpy, -1 for null: a view of Arrow's buffer where none is null."""
    raw = np.frombuffer(indices.buffers()[1], dtype=np.dtype(indices.type.to_pandas_dtype()),
                        count=indices.offset + len(indices))[indices.offset:]
    valid = _valid(indices)
    return raw if valid is None else np.where(valid.view(bool), raw, -1)


def decode_categorical(var: Variable, column: pa.ChunkedArray | pa.Array, table: str, col: str,
                        ids: np.ndarray, issues: list[Issue]) -> np.ndarray:
    if var.type == "boolean" and pa.types.is_boolean(column.type):
        return _boolean_codes(column)  # read-only use: the caller spreads it into a new array
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if var.type == "boolean":
        arr = pc.cast(arr, pa.string())
    if pa.types.is_dictionary(arr.type):
        dictionary = arr.dictionary.cast(pa.string()).to_pylist()
        indices = _indices(arr.indices)
    else:
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.string())
        enc = pc.dictionary_encode(arr)
        dictionary = enc.dictionary.to_pylist()
        indices = _indices(enc.indices)
    codes = var.codes
    lookup = {c: i for i, c in enumerate(codes)}
    if var.type == "boolean":
        lookup = {"false": 0, "true": 1, "False": 0, "True": 1, "0": 0, "1": 1}
    # the last slot is null's (index -1); -2 marks a value outside the code list
    table_map = np.array([lookup.get(str(d), -2) for d in dictionary] + [-1], dtype=CODE_DTYPE)
    if np.array_equal(table_map[:-1], np.arange(len(dictionary))):
        # the dictionary is the code list's first codes in order (the engine's own files): the indices are
        # the codes, no gather through the map
        return indices.astype(CODE_DTYPE, copy=False)
    values = table_map[indices]
    unknown = values == -2
    if unknown.any():
        bad = np.nonzero(unknown)[0]
        shown = sorted({str(dictionary[indices[i]]) for i in bad[:200]})[:EXAMPLES]
        issues.append(Issue(code="unknown-code", table=table, variable=col,
                            row=f"{spec_ids(ids, bad)}",
                            message=f"{len(bad)} value(s) not in the code list of {var.name}: {', '.join(shown)}"))
        values[unknown] = -1
    return values


def spec_ids(ids: np.ndarray, rows: np.ndarray) -> str:
    shown = ", ".join(str(ids[r]) for r in rows[:EXAMPLES])
    more = f" +{len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
    return f"id {shown}{more}"


def decode_time(arr: pa.Array, grain: str) -> tuple[np.ndarray, np.ndarray]:
    """Text time values to period numbers (NaN for null) and a mask of unreadable ones; each distinct text is
    parsed once (Arrow's dictionary encoding, no Python string per row)."""
    if not pa.types.is_dictionary(arr.type):
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = pc.cast(arr, pa.string())
        arr = pc.dictionary_encode(arr)
    texts = arr.dictionary.cast(pa.string()).to_pylist()
    parsed = np.full(len(texts) + 1, np.nan)  # the last slot: null
    unreadable = np.zeros(len(texts) + 1, dtype=bool)
    for i, text in enumerate(texts):
        try:
            parsed[i] = parse_period(text, grain)
        except ValueError:
            unreadable[i] = True
    indices = _indices(arr.indices)
    return parsed[indices], unreadable[indices]


def decode_numeric(var: Variable, column: pa.ChunkedArray, table: str, col: str, ids: np.ndarray,
                    issues: list[Issue]) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if var.type in ("year_month", "year_quarter"):
        values, bad = decode_time(arr, TIME_GRAIN[var.type])
        if bad.any():
            rows = np.nonzero(bad)[0]
            issues.append(Issue(code="type-error", table=table, variable=col, row=spec_ids(ids, rows),
                                message=f"{len(rows)} value(s) are not {var.type} values"))
        return values
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
        issues.append(Issue(code="type-error", table=table, variable=col,
                            message=f"expected numbers ({var.type}), found text"))
        values, _ = decode_time(arr, "year")  # whole numbers written as text still decode (the issue stands)
        return values
    whole = pa.types.is_integer(arr.type)
    numbers = _numbers(arr)
    values = numbers if numbers is not None else np.asarray(
        pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if var.integral and not whole:  # an integer column holds whole numbers
        frac = ~np.isnan(values) & (values != np.round(values))
        if frac.any():
            rows = np.nonzero(frac)[0]
            issues.append(Issue(code="type-error", table=table, variable=col, row=spec_ids(ids, rows),
                                message=f"{len(rows)} value(s) are not whole numbers"))
    if small_whole(var):  # held in float32, exact up to FLOAT32_EXACT: a value beyond is refused, not rounded
        beyond = np.abs(values) > FLOAT32_EXACT  # NaN: False
        if beyond.any():
            rows = np.nonzero(beyond)[0]
            issues.append(Issue(code="type-error", table=table, variable=col, row=spec_ids(ids, rows),
                                message=f"{len(rows)} value(s) beyond +-{FLOAT32_EXACT:,}, far outside the "
                                f"declared range [{var.constraints.minimum}, {var.constraints.maximum}]"))
    return values


def _numbers(arr: pa.Array) -> np.ndarray | None:
    """An integer or floating column as float64, NaN for null, read from its buffers by numpy (see
    _boolean_codes: Arrow's cast under jemalloc); None for any other type, or integers beyond 2**53, which
    Arrow's cast refuses rather than round (the caller takes that route and reports it)."""
    t = arr.type
    if not (pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t)):
        return None
    raw = np.frombuffer(arr.buffers()[1], dtype=np.dtype(t.to_pandas_dtype()),
                        count=arr.offset + len(arr))[arr.offset:]
    if raw.dtype.itemsize == 8 and raw.dtype.kind in "iu" and len(raw) and (
            raw.max() > EXACT_INTEGER or (raw.dtype.kind == "i" and raw.min() < -EXACT_INTEGER)):
        return None
    valid = _valid(arr)
    if valid is None:
        return raw.astype(np.float64, copy=False)  # float64: a read-only view, as Arrow's to_numpy gives
    return np.where(valid.view(bool), raw.astype(np.float64, copy=False), np.nan)  # float64, not float32
