"""Panel -> tables: encode the panel as the spec's tables (Arrow), and which cells those tables publish.
The way back (tables -> panel, with every structural issue) is :mod:`scrambler.decode`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scrambler.panel import Panel, is_null
from scrambler.spec.model import TIME_GRAIN, DatasetSpec, TableSpec, Variable
from scrambler.spec.time import format_period


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


def published_observation(panel: Panel) -> dict[str, np.ndarray]:
    """Which cells of a panel its tables publish: the observation masks a decode of the written tables would
    have. With them, checking the panel in memory covers exactly the rows a check of the files covers."""
    spec = panel.spec
    T = len(panel.periods)
    masks = shared_masks(spec, T, panel.n)
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


def shared_masks(spec: DatasetSpec, T: int, n: int) -> dict[str, np.ndarray]:
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
