"""Tables <-> panel: encode the panel as the spec's tables (Arrow), and decode tables back into a panel.

Decoding is what ``check`` and ``scramble`` run on their input; every structural problem (missing table or
column, wrong type, unknown code, duplicate identifier, two blocks disagreeing about one person-period)
becomes an Issue with its table, column and row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scrambler.errors import Issue
from scrambler.panel import CODE_DTYPE, Panel, is_null
from scrambler.spec.model import TIME_GRAIN, DatasetSpec, TableSpec, Variable
from scrambler.spec.time import format_period, parse_period

EXAMPLES = 5


def arrow_type(var: Variable) -> pa.DataType:
    if var.is_categorical and var.type != "boolean":
        return pa.dictionary(pa.int16(), pa.string())
    return {"boolean": pa.bool_(), "integer": pa.int64(), "year": pa.int64(), "decimal": pa.float64(),
            "year_month": pa.string(), "year_quarter": pa.string(), "identifier": pa.int64()}[var.type]


def _encode_time(values: np.ndarray, grain: str) -> pa.Array:
    """Time values as their text form ("2021-03", "2021Q1"). A column spans few distinct periods: each is
    formatted once and Arrow gathers the texts (formatting 7 million values with numpy's string functions
    and handing Arrow as many Python strings took minutes per table at full scale)."""
    ok = ~np.isnan(values)
    if not ok.any():
        return pa.nulls(len(values), type=pa.string())
    whole = np.where(ok, values, 0).astype(np.int64)
    lo, hi = int(whole[ok].min()), int(whole[ok].max())
    if hi - lo < 1_000_000:
        periods = np.arange(lo, hi + 1)
        index = whole - lo
    else:  # a few wild values far apart: number the distinct ones
        periods, index = np.unique(whole, return_inverse=True)
    dictionary = pa.array([format_period(int(p), grain) for p in periods], type=pa.string())
    return pc.take(dictionary, pa.array(index.astype(np.int32), type=pa.int32(), mask=~ok))


def encode_column(var: Variable, values: np.ndarray) -> pa.Array:
    null = is_null(values)
    if var.type == "boolean":
        return pa.array(values == 1, type=pa.bool_(), mask=null)
    if var.is_categorical:
        indices = pa.array(values.astype(np.int16), type=pa.int16(), mask=null)
        return pa.DictionaryArray.from_arrays(indices, pa.array(list(var.codes), type=pa.string()))
    if var.type in TIME_GRAIN and var.type != "year":
        return _encode_time(values, TIME_GRAIN[var.type])
    if var.type == "decimal":
        return pa.array(np.round(values, var.decimals), type=pa.float64(), mask=null)
    safe = np.where(null, 0, values).astype(np.int64)
    return pa.array(safe, type=pa.int64(), mask=null)


def table_columns(spec: DatasetSpec, table: TableSpec) -> list[tuple[str, Variable, int]]:
    """(column name, variable, offset) of a table, identifier first."""
    out = [(spec.identifier, spec.variables[spec.identifier], 0)]
    for block in table.blocks:
        for name in block.variables:
            out.append((name + block.suffix, spec.variables[name], block.offset))
    return out


def panel_to_tables(panel: Panel) -> dict[str, pa.Table]:
    return dict(iter_tables(panel))


def iter_tables(panel: Panel) -> Iterator[tuple[str, pa.Table]]:
    """The spec's tables one at a time (a full-scale panel's tables do not all fit in memory beside it)."""
    spec = panel.spec
    index = {p: i for i, p in enumerate(panel.periods)}
    for name, table, period in spec.table_names():
        t = index[period]
        rows = np.nonzero(panel.present[t])[0]
        rows = rows[np.argsort(panel.ids[rows], kind="stable")]
        arrays, fields = [], []
        for column, var, offset in table_columns(spec, table):
            if var.type == "identifier":
                arrays.append(pa.array(panel.ids[rows], type=pa.int64()))
            else:
                arrays.append(encode_column(var, panel.values(var.name, t + offset)[rows]))
            fields.append(pa.field(column, arrow_type(var), nullable=var.type != "identifier"))
        yield name, pa.Table.from_arrays(arrays, schema=pa.schema(fields))


@dataclass
class Decoded:
    panel: Panel
    issues: list[Issue]


def _decode_categorical(var: Variable, column: pa.ChunkedArray | pa.Array, table: str, col: str,
                        ids: np.ndarray, issues: list[Issue]) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if var.type == "boolean":
        if pa.types.is_boolean(arr.type):
            values = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=CODE_DTYPE)
            values[np.asarray(arr.is_null().to_numpy(zero_copy_only=False))] = -1
            return values
        arr = pc.cast(arr, pa.string())
    if pa.types.is_dictionary(arr.type):
        dictionary = arr.dictionary.cast(pa.string()).to_pylist()
        indices = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.string())
        enc = pc.dictionary_encode(arr)
        dictionary = enc.dictionary.to_pylist()
        indices = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    codes = var.codes
    lookup = {c: i for i, c in enumerate(codes)}
    if var.type == "boolean":
        lookup = {"false": 0, "true": 1, "False": 0, "True": 1, "0": 0, "1": 1}
    table_map = np.array([lookup.get(str(d), -2) for d in dictionary] + [-1], dtype=np.int64)
    values = table_map[indices]
    unknown = values == -2
    if unknown.any():
        bad = np.nonzero(unknown)[0]
        shown = sorted({str(dictionary[indices[i]]) for i in bad[:200]})[:EXAMPLES]
        issues.append(Issue(code="unknown-code", table=table, variable=col,
                            row=f"{spec_ids(ids, bad)}",
                            message=f"{len(bad)} value(s) not in the code list of {var.name}: {', '.join(shown)}"))
        values[unknown] = -1
    return values.astype(CODE_DTYPE)


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
    indices = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
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
    values = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if var.integral:
        frac = ~np.isnan(values) & (values != np.round(values))
        if frac.any():
            rows = np.nonzero(frac)[0]
            issues.append(Issue(code="type-error", table=table, variable=col, row=spec_ids(ids, rows),
                                message=f"{len(rows)} value(s) are not whole numbers"))
    return values


@runtime_checkable
class IdentifierReader(Protocol):
    """A mapping of tables that can read one table's identifier column alone (see check.LazyTables)."""

    def identifiers(self, name: str, column: str) -> pa.Table: ...


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
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            issues.append(Issue(code="unique-error", table=name, variable=id_name,
                                row=f"id {', '.join(map(str, dup[:EXAMPLES]))}",
                                message=f"{len(dup)} identifier(s) occur more than once"))
        all_ids.append(ids)
        present_tables.append((name, table, period, ids))
        del data  # read again when decoded: at full scale the six tables do not all fit beside the panel
    person_ids = np.unique(np.concatenate(all_ids)) if all_ids else np.zeros(0, dtype=np.int64)
    panel = Panel.empty(spec, len(person_ids))
    panel.ids = person_ids
    T = len(spec.panel.periods)
    observed = _shared_masks(spec, T, len(person_ids))
    panel.observed = observed
    index = {p: i for i, p in enumerate(spec.panel.periods)}
    for name, table, period, ids in present_tables:
        data = tables[name]
        rows = np.searchsorted(person_ids, ids)
        marks: list[tuple[np.ndarray, int | None]] = []  # observed masks to set once the table is decoded
        columns = table_columns(spec, table)
        wanted = {c for c, _, _ in columns}
        for extra in [c for c in data.column_names if c not in wanted]:
            issues.append(Issue(code="unexpected-column", table=name, variable=extra,
                                message="the spec declares no such column"))
        t0 = index[period]
        panel.present[t0, rows] = True
        for column, var, offset in columns:
            if var.type == "identifier":
                continue
            if column not in data.column_names:
                issues.append(Issue(code="missing-column", table=name, variable=column,
                                    message=f"the column is missing (variable {var.name})"))
                continue
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
                continue
            t = t0 + offset
            if var.is_static and var.constraints.required and (nulls := np.nonzero(is_null(values))[0]).size:
                # report the null where it is; otherwise it surfaces as a disagreement with another table's
                # (non-null) value of the same person, in that other table
                issues.append(Issue(code="required-null", table=name, variable=column, row=spec_ids(ids, nulls),
                                    message=f"{nulls.size} null value(s) in required variable {var.name}"))
            target = panel.static[var.name] if var.is_static else panel.periodic[var.name][t]
            seen = observed[var.name][t]
            _merge(target, seen, rows, values, issues, name, column, ids, var)
            marks.append((observed[var.name], None if var.is_static else t))
        # set after the whole table: variables shown in the same blocks share one mask, and a mask set by
        # the first of them would make the next one look already seen
        for mask, at in marks:
            if at is None:
                mask[:, rows] = True
            else:
                mask[at, rows] = True
        del data
        # hand the table's buffers back to the system now: a pool that keeps them (mimalloc, Arrow's
        # default) held ~4.7 GB beside a 3.8 GB panel after reading 7.5 million persons
        pa.default_memory_pool().release_unused()
    presence = spec.panel.presence
    listed = {index[p] for _, _, p in expected}  # a table lists every person present at its period
    scoped = [v.name for v in spec.data_variables
              if not v.is_static and v.scope == "present" and v.name != presence]
    for t in range(T):
        obs = observed[presence][t]
        panel.present[t] |= obs & ~is_null(panel.periodic[presence][t])
        if t not in listed:
            # the presence variable is not shown here (e.g. a +1 block without it): a value shown non-null
            # means the person is present, since absent person-periods carry no values
            for other in scoped:
                panel.present[t] |= ~obs & observed[other][t] & ~is_null(panel.periodic[other][t])
    return Decoded(panel=panel, issues=issues)


def published_observation(panel: Panel) -> dict[str, np.ndarray]:
    """Which cells of a panel its tables publish: the observation masks a decode of the written tables would
    have. With them, checking the panel in memory covers exactly the rows a check of the files covers."""
    spec = panel.spec
    T = len(panel.periods)
    masks = _shared_masks(spec, T, panel.n)
    index = {p: i for i, p in enumerate(panel.periods)}
    for _, table, period in spec.table_names():
        t0 = index[period]
        rows = panel.present[t0]
        for block in table.blocks:
            for name in block.variables:
                if spec.variables[name].is_static:
                    masks[name][:, rows] = True
                else:
                    masks[name][t0 + block.offset] |= rows
    return masks


def _shared_masks(spec: DatasetSpec, T: int, n: int) -> dict[str, np.ndarray]:
    """Observation masks, one array per distinct set of (table, block) where variables are shown: most
    variables share one (68 separate masks of 5 x 7.5 million booleans would cost 2.5 GB)."""
    shown: dict[str, list[tuple[str, int]]] = {v.name: [] for v in spec.data_variables}
    for table in spec.tables:
        for block in table.blocks:
            for name in block.variables:
                shown[name].append((table.name, block.offset))
    by_key: dict[tuple[object, ...], np.ndarray] = {}
    out = {}
    for var in spec.data_variables:
        key = (var.is_static, *sorted(shown[var.name]))
        if key not in by_key:
            by_key[key] = np.zeros((T, n), dtype=bool)
        out[var.name] = by_key[key]
    return out


def _merge(target: np.ndarray, seen: np.ndarray, rows: np.ndarray, values: np.ndarray, issues: list[Issue],
           table: str, column: str, ids: np.ndarray, var: Variable) -> None:
    """Write decoded values into the panel; where another block already wrote them, they must agree."""
    already = seen[rows]  # statics: marked observed for every period once a first table wrote them
    if not already.any():  # the usual case: the first block to show these cells
        target[rows] = values
        return
    old = target[rows]
    if var.is_categorical:
        differ = already & (old != values)
    else:
        differ = already & ~((old == values) | (np.isnan(old) & np.isnan(values)))
    if var.is_static and var.constraints.required:  # a null on either side is reported as required-null
        old_null = is_null(old)
        differ &= ~(old_null | is_null(values))
        already = already & ~old_null  # keep the known value, not the null
    if differ.any():
        bad = np.nonzero(differ)[0]
        issues.append(Issue(code="consistency-error", table=table, variable=column, row=spec_ids(ids, bad),
                            message=f"{len(bad)} value(s) differ from another table's block for the same person "
                            f"and period (variable {var.name})"))
    target[rows] = np.where(already, old, values)

