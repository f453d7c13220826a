"""Tables -> panel: decode the spec's tables into a panel with observation masks.

Decoding is what ``check`` and ``scramble`` run on their input; every structural problem (missing table or
column, wrong type, unknown code, duplicate identifier, two blocks disagreeing about one person-period)
becomes an Issue with its table, column and row.

Each table is read and its columns decoded on its own (:func:`_decode_table`), the next tables on worker
threads while this one is merged into the panel; the merge, which compares blocks that show the same cells,
runs table by table in the spec's order, so the panel and the issues do not depend on thread timing. A
1,000,000-person input: 13.6 s read one table after the other at 6510704, 6.0-6.5 s now. Above
OVERLAP_PERSONS tables are taken one at a time, and within one the next column is decoded while this one is
merged (7,500,000 persons: 47.5-55.0 s before, 41.1-42.6 s after, alternated runs).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from scrambler.columns import EXAMPLES, decode_categorical, decode_numeric, spec_ids
from scrambler.errors import Issue
from scrambler.memory import give_back
from scrambler.panel import Panel, differs, is_null
from scrambler.spec.model import DatasetSpec, TableSpec, Variable
from scrambler.tables import shared_masks, table_columns

#: up to this many input persons, the next tables are read and decoded while one is merged; above it one table
#: at a time (at 7.5 million persons a decoded table is gigabytes beside the panel)
OVERLAP_PERSONS = 2_000_000
WORKERS = 2  # tables decoded at once below OVERLAP_PERSONS (a third may be being merged)


@dataclass
class Decoded:
    panel: Panel
    issues: list[Issue]


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
    return _Table(name, period, inrow, _one_ahead(columns) if lazy else list(columns), extra)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _one_ahead(columns: Iterator[_Column]) -> Iterator[_Column]:
    """``columns``, each decoded on a thread while the caller merges the one before: one table at a time
    (above OVERLAP_PERSONS), the read used one core of two. At most three columns exist at once (merged,
    waiting, being decoded), each tens of MB where a whole decoded table was gigabytes. The columns come in
    their order, so the panel and the issues are those of the serial decode."""
    slots: queue.Queue[_Column | _Failed | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: _Column | _Failed | None) -> bool:
        """Hand ``item`` over; False once the merge has stopped (an error), so nothing more is decoded."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for column in columns:
                if not offer(column):
                    return
            offer(None)
        except BaseException as exc:  # handed to the merge, which raises it
            offer(_Failed(exc))

    thread = threading.Thread(target=produce, name="scrambler-decode", daemon=True)
    thread.start()
    try:
        while (got := slots.get()) is not None:
            if isinstance(got, _Failed):
                raise got.error
            yield got
    finally:
        stop.set()


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
                    values = decode_categorical(var, col, name, column, ids, issues)
                else:
                    values = decode_numeric(var, col, name, column, ids, issues)
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
    # hand the table's buffers and working copies back to the system now: a pool that keeps them (mimalloc,
    # Arrow's default) held ~4.7 GB beside a 3.8 GB panel after reading 7.5 million persons
    give_back(n)


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
