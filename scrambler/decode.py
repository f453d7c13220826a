"""Tables -> panel: decode the spec's tables into a panel with observation masks.

Decoding is what ``check`` and ``scramble`` run on their input; every structural problem (missing table or
column, wrong type, unknown code, duplicate identifier, two blocks disagreeing about one person-period)
becomes an Issue with its table, column and row.

Each table is read and its columns decoded on its own (:func:`_decode_table`), the next tables on worker
threads while this one is merged into the panel; the merge, which compares blocks that show the same cells,
runs table by table in the spec's order, so the panel and the issues do not depend on thread timing. A
1,000,000-person input: 13.6 s read one table after the other at 6510704, 6.0-6.5 s now.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scrambler.errors import Issue
from scrambler.panel import CODE_DTYPE, Panel, differs, is_null
from scrambler.spec.model import TIME_GRAIN, DatasetSpec, TableSpec, Variable
from scrambler.spec.time import parse_period
from scrambler.tables import shared_masks, table_columns

EXAMPLES = 5
#: up to this many input persons, the next tables are read and decoded while one is merged; above it one table
#: at a time (at 7.5 million persons a decoded table is gigabytes beside the panel)
OVERLAP_PERSONS = 2_000_000
WORKERS = 2  # tables decoded at once below OVERLAP_PERSONS (a third may be being merged)
EXACT_INTEGER = 2**53  # the largest whole number every float64 below it holds exactly


@dataclass
class Decoded:
    panel: Panel
    issues: list[Issue]


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


# Arrow's compute kernels allocate from Arrow's pool, and under jemalloc (the command's pool, for its lean
# memory) each 7-million-row result cost twice what it costs under mimalloc: casting and null-filling 438
# boolean and 222 coded columns was ~15 s of a 7.5 million-person read. The buffers are read with numpy
# instead: the same codes, 4-6 times faster there.

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


def _decode_categorical(var: Variable, column: pa.ChunkedArray | pa.Array, table: str, col: str,
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


def _decode_time(arr: pa.Array, grain: str) -> tuple[np.ndarray, np.ndarray]:
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


def _decode_numeric(var: Variable, column: pa.ChunkedArray, table: str, col: str, ids: np.ndarray,
                    issues: list[Issue]) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if var.type in ("year_month", "year_quarter"):
        values, bad = _decode_time(arr, TIME_GRAIN[var.type])
        if bad.any():
            rows = np.nonzero(bad)[0]
            issues.append(Issue(code="type-error", table=table, variable=col, row=spec_ids(ids, rows),
                                message=f"{len(rows)} value(s) are not {var.type} values"))
        return values
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
        issues.append(Issue(code="type-error", table=table, variable=col,
                            message=f"expected numbers ({var.type}), found text"))
        values, _ = _decode_time(arr, "year")  # whole numbers written as text still decode (the issue stands)
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


@runtime_checkable
class IdentifierReader(Protocol):
    """A mapping of tables that can read one table's identifier column alone (see check.LazyTables)."""

    def identifiers(self, name: str, column: str) -> pa.Table: ...


def _sorted_unique(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct ids, how often each occurs): a table written by an extract is usually sorted by its
    identifier, and then this is one comparison pass instead of a sort (np.unique of six million-row id
    columns and of their union took 1.5 s of a 1,000,000-person read)."""
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return ids, np.ones(len(ids), dtype=np.int64)
    return np.unique(ids, return_counts=True)


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct ids of all tables: a stable sort merges sorted runs in linear time."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    merged = np.sort(np.concatenate(parts), kind="stable")
    keep = np.ones(len(merged), dtype=bool)
    keep[1:] = merged[1:] != merged[:-1]
    return merged[keep]


@dataclass
class _Column:
    """One decoded column of a table: its values (None: missing or unreadable) and the issues found."""

    column: str
    var: Variable
    offset: int
    values: np.ndarray | None
    issues: list[Issue]


@dataclass
class _Table:
    name: str
    period: int
    inrow: np.ndarray  # (persons,) bool: listed in this table
    columns: Iterable[_Column]  # values spread over the panel's persons (null where not listed)
    extra: list[str]  # columns the spec does not declare


def _decode_table(spec: DatasetSpec, tables: Mapping[str, pa.Table], person_ids: np.ndarray, lazy: bool,
                  name: str, table: TableSpec, period: int, ids: np.ndarray) -> _Table:
    """Read one table and decode every column the spec declares, each spread over the panel's persons (no
    panel touched: safe on a thread). Spreading here, not in the merge, puts the scatter of every column on
    the worker; the merge is then whole-array operations (the gathers and scatters by row index were 6 s of
    the 9 s a 1,000,000-person read took). ``lazy``: the columns are decoded as the merge asks for them, one
    at a time (at 7.5 million persons a whole decoded table beside the panel was 3 GB more at the peak)."""
    data = tables[name]
    declared = table_columns(spec, table)
    wanted = {c for c, _, _ in declared}
    rows = np.searchsorted(person_ids, ids)
    inrow = np.zeros(len(person_ids), dtype=bool)
    inrow[rows] = True
    extra = [c for c in data.column_names if c not in wanted]
    columns = _decoded_columns(declared, data, name, ids, rows, len(person_ids))
    del data  # the generator holds it until its last column
    return _Table(name, period, inrow, columns if lazy else list(columns), extra)


def _decoded_columns(declared: list[tuple[str, Variable, int]], data: pa.Table, name: str, ids: np.ndarray,
                     rows: np.ndarray, n: int) -> Iterator[_Column]:
    for column, var, offset in declared:
        if var.type == "identifier":
            continue
        issues: list[Issue] = []
        values = None
        if column not in data.column_names:
            issues.append(Issue(code="missing-column", table=name, variable=column,
                                message=f"the column is missing (variable {var.name})"))
        else:
            col = data.column(column)
            try:
                if var.is_categorical:
                    values = _decode_categorical(var, col, name, column, ids, issues)
                else:
                    values = _decode_numeric(var, col, name, column, ids, issues)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                # no exception text: it may quote cell values
                issues.append(Issue(code="type-error", table=name, variable=column,
                                    message=f"a column of type {col.type} cannot hold {var.type} values "
                                    f"(variable {var.name})"))
        if values is not None:
            if var.is_static and var.constraints.required and (nulls := np.nonzero(is_null(values))[0]).size:
                # report the null where it is; otherwise it surfaces as a disagreement with another table's
                # (non-null) value of the same person, in that other table
                issues.append(Issue(code="required-null", table=name, variable=column, row=spec_ids(ids, nulls),
                                    message=f"{nulls.size} null value(s) in required variable {var.name}"))
            spread = np.full(n, -1 if var.is_categorical else np.nan, dtype=values.dtype)
            spread[rows] = values
            values = spread
        yield _Column(column, var, offset, values, issues)
    del data
    # hand the table's buffers back to the system now: a pool that keeps them (mimalloc, Arrow's default)
    # held ~4.7 GB beside a 3.8 GB panel after reading 7.5 million persons
    pa.default_memory_pool().release_unused()


def _in_order(jobs: Sequence[Callable[[], _Table]], workers: int) -> Iterator[_Table]:
    """The jobs' results in order; with ``workers``, that many run on threads while the consumer holds this
    one's result (at most ``workers`` + 1 decoded tables at a time)."""
    if workers == 0:
        for job in jobs:
            yield job()
        return
    todo = iter(jobs)
    with ThreadPoolExecutor(workers) as pool:
        running: deque[Future[_Table]] = deque(pool.submit(job) for job in islice(todo, workers + 1))
        while running:
            result = running.popleft().result()
            yield result
            del result
            nxt = next(todo, None)
            if nxt is not None:
                running.append(pool.submit(nxt))


def tables_to_panel(spec: DatasetSpec, tables: Mapping[str, pa.Table]) -> Decoded:
    """Decode the spec's tables into a panel with observation masks; collect structural issues."""
    issues: list[Issue] = []
    expected = spec.table_names()
    for name in tables:
        if name not in {e[0] for e in expected}:
            issues.append(Issue(code="unexpected-table", table=name, message="the spec declares no such table"))
    id_name = spec.identifier
    all_ids: list[np.ndarray] = []
    present_tables = []
    for name, table, period in expected:
        if name not in tables:
            issues.append(Issue(code="missing-table", table=name, message="the table is missing"))
            continue
        # a lazy folder reads just the identifier column here; the whole table is read when decoded
        data = tables.identifiers(name, id_name) if isinstance(tables, IdentifierReader) else tables[name]
        if id_name not in data.column_names:
            issues.append(Issue(code="missing-column", table=name, variable=id_name,
                                message="the identifier column is missing"))
            continue
        ids = data.column(id_name).to_numpy(zero_copy_only=False)
        if ids.dtype.kind not in "iu" or np.any(ids <= 0):
            issues.append(Issue(code="type-error", table=name, variable=id_name,
                                message="identifiers must be positive whole numbers (no nulls)"))
            continue
        ids = ids.astype(np.int64)
        uniq, counts = _sorted_unique(ids)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            issues.append(Issue(code="unique-error", table=name, variable=id_name,
                                row=f"id {', '.join(map(str, dup[:EXAMPLES]))}",
                                message=f"{len(dup)} identifier(s) occur more than once"))
        all_ids.append(uniq)
        present_tables.append((name, table, period, ids))
        del data  # read again when decoded: at full scale the six tables do not all fit beside the panel
    person_ids = _union(all_ids)
    panel = Panel.empty(spec, len(person_ids))
    panel.ids = person_ids
    T = len(spec.panel.periods)
    observed = shared_masks(spec, T, len(person_ids))
    panel.observed = observed
    index = {p: i for i, p in enumerate(spec.panel.periods)}
    workers = WORKERS if len(person_ids) <= OVERLAP_PERSONS else 0
    jobs = [partial(_decode_table, spec, tables, person_ids, workers == 0, *args) for args in present_tables]
    for decoded in _in_order(jobs, workers):
        _merge_table(panel, decoded, index[decoded.period], issues)
    _infer_presence(spec, panel, {index[p] for _, _, p in expected})
    return Decoded(panel=panel, issues=issues)


def _merge_table(panel: Panel, decoded: _Table, t0: int, issues: list[Issue]) -> None:
    """Write one decoded table into the panel, in the order of its columns (issues in that order too)."""
    observed = panel.observed
    assert observed is not None  # tables_to_panel sets the masks before any table is merged
    inrow = decoded.inrow
    for extra in decoded.extra:
        issues.append(Issue(code="unexpected-column", table=decoded.name, variable=extra,
                            message="the spec declares no such column"))
    panel.present[t0] |= inrow
    marks: list[tuple[np.ndarray, int | None]] = []  # observed masks to set once the table is merged
    for c in decoded.columns:
        issues.extend(c.issues)
        if c.values is None:
            continue
        var, t = c.var, t0 + c.offset
        target = panel.static[var.name] if var.is_static else panel.periodic[var.name][t]
        _merge(target, observed[var.name][t], inrow, c.values, issues, decoded.name, c.column, panel.ids, var)
        marks.append((observed[var.name], None if var.is_static else t))
        c.values = None  # merged: its memory can go
    # set after the whole table: variables shown in the same blocks share one mask, and a mask set by the
    # first of them would make the next one look already seen
    for mask, at in marks:
        if at is None:
            mask |= inrow
        else:
            mask[at] |= inrow


def _infer_presence(spec: DatasetSpec, panel: Panel, listed: set[int]) -> None:
    """Who is present where: listed in a table of the period, or (at a period no table lists, e.g. a +1 block
    without the presence variable) showing a non-null value, since absent person-periods carry no values."""
    presence, observed = spec.panel.presence, panel.observed
    assert observed is not None
    scoped = [v.name for v in spec.data_variables
              if not v.is_static and v.scope == "present" and v.name != presence]
    for t in range(len(spec.panel.periods)):
        obs = observed[presence][t]
        panel.present[t] |= obs & ~is_null(panel.periodic[presence][t])
        if t not in listed:
            for other in scoped:
                panel.present[t] |= ~obs & observed[other][t] & ~is_null(panel.periodic[other][t])


def _merge(target: np.ndarray, seen: np.ndarray, inrow: np.ndarray, values: np.ndarray, issues: list[Issue],
           table: str, column: str, ids: np.ndarray, var: Variable) -> None:
    """Write a table's values (``values``: over all persons, those the table lists in ``inrow``) into the
    panel; where another block already wrote them, they must agree."""
    already = seen & inrow  # statics: marked observed for every period once a first table wrote them
    if not already.any():  # the usual case: the first block to show these cells
        np.copyto(target, values, where=inrow)
        return
    differ = already & differs(target, values)
    if var.is_static and var.constraints.required:  # a null on either side is reported as required-null
        old_null = is_null(target)
        differ &= ~(old_null | is_null(values))
        already &= ~old_null  # keep the known value, not the null
    if differ.any():
        bad = np.nonzero(differ)[0]
        issues.append(Issue(code="consistency-error", table=table, variable=column, row=spec_ids(ids, bad),
                            message=f"{len(bad)} value(s) differ from another table's block for the same person "
                            f"and period (variable {var.name})"))
    np.copyto(target, values, where=inrow & ~already)
