"""The shape of a dataset folder: tables and their periods, the identifier, the blocks of each table (columns
with a suffix that show a variable at another period) and the long person x period view the miners read.

Periods come from the table names (``name_2021``, ``name_2021Q4``, ``name_2021-07``); a block's offset comes
from the data: the suffixed column of the table at T must agree with the plain column at T + offset.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scrambler.draft.read import read_table, table_files
from scrambler.errors import DataError, Issue
from scrambler.spec.time import parse_period

PERIOD = re.compile(r"^(?P<family>.*?)(?P<sep>[_-]?)(?P<period>\d{4}(?:Q[1-4]|-(?:0[1-9]|1[0-2]))?)$")
OFFSETS = (1, -1, 2, -2, 3, -3, 4, -4)
AGREEMENT = 0.99  # share of comparable cells that must agree for a suffix to be a block at that offset
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass
class Family:
    """Tables published once per period: ``template`` holds ``{T}``."""

    template: str
    periods: dict[int, str] = field(default_factory=dict)  # period number -> table name
    texts: dict[int, str] = field(default_factory=dict)  # period number -> its text in the name
    base: list[str] = field(default_factory=list)  # offset-0 columns (variables), in file order
    blocks: dict[str, tuple[int, list[str]]] = field(default_factory=dict)  # suffix -> (offset, variables)


@dataclass
class Layout:
    grain: str
    identifier: str
    families: list[Family]
    columns: dict[str, list[pa.DataType]]  # variable -> the Arrow types of the columns that show it
    cells: dict[str, pd.Series]  # variable -> value per (id, period), one per observed person-period
    present: pd.MultiIndex  # (id, period) of the persons listed in a table at its period
    labels: dict[str, str] = field(default_factory=dict)  # variable -> label, where a file carries one
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # variable -> code -> label


def grain_of(text: str) -> str:
    return "quarter" if "Q" in text else "month" if "-" in text else "year"


def read_layout(folder: str | Path, identifier: str | None = None, grain: str | None = None) -> Layout:
    files = table_files(folder)
    tables = {name: read_table(path) for name, path in files.items()}
    families: dict[str, Family] = {}
    grains = set()
    for name, path in files.items():
        m = PERIOD.match(name)
        if m is None:
            raise DataError([Issue(code="no-period", file=str(path), message=(
                "the table name carries no period: name tables like name_2021, name_2021Q4 or name_2021-07"))])
        grains.add(grain_of(m["period"]))
        template = f"{m['family']}{m['sep']}{{T}}"
        families.setdefault(template, Family(template)).texts[len(families[template].texts)] = m["period"]
        families[template].periods[len(families[template].periods)] = name
    chosen = grain or (grains.pop() if len(grains) == 1 else None)
    if chosen is None:
        raise DataError([Issue(code="mixed-grain", file=str(folder), message=(
            f"the table names mix period grains ({', '.join(sorted(grains))}); pass --grain"))])
    for fam in families.values():  # renumber by the period itself
        pairs = list(zip(fam.texts.values(), fam.periods.values(), strict=True))
        fam.texts, fam.periods = {}, {}
        for text, name in pairs:
            try:
                p = parse_period(text, chosen)
            except ValueError as exc:
                raise DataError([Issue(code="bad-period", table=name, message=f"{exc} (grain {chosen})")]) from None
            fam.texts[p], fam.periods[p] = text, name
    ident = identifier or _guess_identifier(tables, files)
    for name, table in tables.items():
        if ident not in table.column_names:
            raise DataError([Issue(code="missing-column", table=name, variable=ident,
                                   message="the identifier column is missing")])
        ids = table.column(ident)
        if ids.null_count or len(pc.unique(ids)) != len(ids):
            raise DataError([Issue(code="bad-identifier", table=name, variable=ident, message=(
                "the identifier must be non-null and unique within each table; pass --id COLUMN"))])
        if not pa.types.is_integer(ids.type) or (len(ids) and pc.min(ids).as_py() <= 0):
            raise DataError([Issue(code="bad-identifier", table=name, variable=ident, message=(
                "the identifier must hold positive whole numbers (the spec's identifier type); renumber the "
                "persons 1..N in every table, or pass --id COLUMN"))])
        for col in table.column_names:
            if col != ident and not NAME.match(col):
                raise DataError([Issue(code="bad-name", table=name, variable=col, message=(
                    "column names must be lower_snake_case (a letter, then letters, digits or _)"))])
    layout = Layout(grain=chosen, identifier=ident, families=list(families.values()), columns={}, cells={},
                    present=pd.MultiIndex.from_arrays([[], []], names=["id", "period"]))
    _find_blocks(layout, tables)
    _collect(layout, tables)
    return layout


def _guess_identifier(tables: dict[str, pa.Table], files: dict[str, Path]) -> str:
    """The first column, in every table, of positive whole numbers, never null and unique in each table."""
    first = next(iter(tables.values()))
    for col in first.column_names:
        ok = True
        for table in tables.values():
            if col not in table.column_names:
                ok = False
                break
            arr = table.column(col)
            if not pa.types.is_integer(arr.type) or (len(arr) and pc.min(arr).as_py() <= 0):
                ok = False
                break
            if arr.null_count or len(pc.unique(arr)) != len(arr):
                ok = False
                break
        if ok and len(first) > 1:
            return col
    raise DataError([Issue(code="no-identifier", file=str(next(iter(files.values())).parent), message=(
        "no column is unique and non-null in every table; name the person identifier with --id COLUMN"))])


def _frame(table: pa.Table, ident: str, columns: list[str]) -> pd.DataFrame:
    frame = table.select([ident, *columns]).to_pandas(types_mapper=None)
    for col in columns:  # dictionaries become plain objects: codes are compared as texts
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object)
    return frame.set_index(ident)


def _find_blocks(layout: Layout, tables: dict[str, pa.Table]) -> None:
    """Split each family's columns into the plain ones (offset 0) and suffixed blocks whose offset the data
    confirm; a suffix the data do not confirm leaves its columns plain variables."""
    for fam in layout.families:
        cols = [c for c in tables[next(iter(fam.periods.values()))].column_names if c != layout.identifier]
        for name in fam.periods.values():
            if [c for c in tables[name].column_names if c != layout.identifier] != cols:
                raise DataError([Issue(code="columns-differ", table=name, message=(
                    f"the tables {fam.template} do not all have the same columns"))])
        plain = set(cols)
        stems: dict[str, list[str]] = defaultdict(list)  # suffix -> stems that exist as plain columns
        for col in cols:
            for i in range(1, len(col)):
                if col[i] == "_" and col[:i] in plain:
                    stems[col[i:]].append(col[:i])
        confirmed: dict[str, int] = {}
        for suffix, names in sorted(stems.items(), key=lambda kv: -len(kv[1])):
            if any(suffix.endswith(s) or s.endswith(suffix) for s in confirmed):
                continue
            offset = _offset(fam, tables, layout.identifier, suffix, names)
            if offset is not None:
                confirmed[suffix] = offset
        taken: set[str] = set()
        for suffix, offset in confirmed.items():
            members = [c[: -len(suffix)] for c in cols if c.endswith(suffix) and NAME.match(c[: -len(suffix)])]
            fam.blocks[suffix] = (offset, members)
            taken.update(m + suffix for m in members)
        fam.base = [c for c in cols if c not in taken]


def _offset(fam: Family, tables: dict[str, pa.Table], ident: str, suffix: str, stems: list[str]) -> int | None:
    best: tuple[float, int] | None = None
    for offset in OFFSETS:
        agree = total = 0
        for period, name in fam.periods.items():
            other = fam.periods.get(period + offset)
            if other is None:
                continue
            a = _frame(tables[name], ident, [s + suffix for s in stems])
            b = _frame(tables[other], ident, stems)
            common = a.index.intersection(b.index)
            for s in stems:
                x, y = a.loc[common, s + suffix], b.loc[common, s]
                both = x.notna() & y.notna()
                total += int(both.sum())
                agree += int((x[both].astype(str) == y[both].astype(str)).sum())
        if total >= 20 and agree / total >= AGREEMENT and (best is None or agree / total > best[0]):
            best = (agree / total, offset)
    return None if best is None else best[1]


def _collect(layout: Layout, tables: dict[str, pa.Table]) -> None:
    """Every variable's values per (id, period), from every block that shows it (the first block wins where
    several show the same cell: the checker requires them to agree)."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)
    arrays: dict[str, list[pa.DataType]] = defaultdict(list)
    listed_ids: list[np.ndarray] = []
    listed_periods: list[np.ndarray] = []
    for fam in layout.families:
        blocks = [("", 0, fam.base), *((s, o, v) for s, (o, v) in fam.blocks.items())]
        for period, name in fam.periods.items():
            table = tables[name]
            ids = table.column(layout.identifier).to_numpy()
            listed_ids.append(ids)
            listed_periods.append(np.full(len(ids), period))
            for suffix, offset, names in blocks:
                periods = np.full(len(ids), period + offset)
                for var in names:
                    col = table.column(var + suffix)
                    arrays[var].append(col.type)
                    _labels(layout, var, table.schema.field(var + suffix))
                    if pa.types.is_dictionary(col.type):
                        col = col.cast(col.type.value_type)
                    parts[var].append((ids, periods, col.to_numpy(zero_copy_only=False)))
    for var, chunks in parts.items():
        frame = pd.DataFrame({"id": np.concatenate([c[0] for c in chunks]),
                              "period": np.concatenate([c[1] for c in chunks]),
                              "value": np.concatenate([np.asarray(c[2], dtype=object) for c in chunks])})
        frame = frame.drop_duplicates(["id", "period"], keep="first")
        series = pd.Series(frame["value"].to_numpy(), index=pd.MultiIndex.from_frame(frame[["id", "period"]]))
        layout.cells[var] = series.where(series.notna(), np.nan)
        layout.columns[var] = arrays[var]
    if listed_ids:
        layout.present = pd.MultiIndex.from_arrays([np.concatenate(listed_ids), np.concatenate(listed_periods)],
                                                   names=["id", "period"]).unique()


def _labels(layout: Layout, var: str, column: pa.Field) -> None:
    import json

    from scrambler.draft.read import LABEL, VALUE_LABELS

    meta = column.metadata or {}
    if LABEL in meta:
        layout.labels.setdefault(var, meta[LABEL].decode())
    if VALUE_LABELS in meta:
        layout.value_labels.setdefault(var, {}).update(json.loads(meta[VALUE_LABELS]))


def choose_presence(layout: Layout, moving: set[str]) -> str:
    """The presence variable: filled in every listed row (a table lists the persons present at its period),
    preferring the one shown in most cells - it decides presence in periods no table lists (the +1 block after
    the last table period). Then the person-periods it shows filled there are present too."""
    listed = layout.present
    best: tuple[int, bool, str] | None = None
    for name, cells in layout.cells.items():
        at = cells.reindex(listed)
        if at.isna().any():
            continue
        # shown in most cells first; then one that changes over time (a fixed trait would have to be declared
        # a period variable to serve)
        varies = bool(cells.astype(str).groupby(level=0).nunique().max() > 1)
        key = (len(cells), varies, name)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        raise DataError([Issue(code="no-presence", variable=layout.identifier, message=(
            "no variable is filled in every row, so the panel has no presence variable: a draft needs one "
            "variable that is filled whenever a person is listed in a table"))])
    cells = layout.cells[best[2]]
    periods = set(listed.get_level_values(1))
    extra = cells[~cells.index.get_level_values(1).isin(periods) & cells.notna().to_numpy()].index
    layout.present = listed.append(extra).unique()
    return best[2]
