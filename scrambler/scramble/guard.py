""""Depicts no real situation": no output person-period equals an input person-period on the quasi-
identifiers, and no quasi-identifier combination rarer than k in the input appears in the output.

The unit is the year block as published: at each table period, the variables of the tables' own-year
(offset 0) blocks. A table row is its own-year block plus blocks of other years, so a row whose own-year
block differs from every input one differs as a whole. Rows that collide are redrawn (more variables each
round) by the same sampler, so they stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scrambler.panel import Panel

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _qi_variables(spec_qi: tuple[str, ...] | None, panel: Panel) -> list[str]:
    names = [v.name for v in panel.spec.data_variables if v.publish]
    return [n for n in names if n in spec_qi] if spec_qi is not None else names


def period_variables(source: Panel, qi: list[str], t: int) -> list[str]:
    """QI variables published in the own-year blocks of the tables at period t (none: not a table year)."""
    spec = source.spec
    period = source.periods[t]
    shown: set[str] = set()
    for table in spec.tables:
        if period in table.periods:
            for block in table.blocks:
                if block.offset == 0:
                    shown.update(block.variables)
    return [name for name in qi if name in shown]


def row_hashes(panel: Panel, names: list[str], t: int, rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's values of ``names`` at period t (vectorised, order-sensitive)."""
    h = np.full(len(rows), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, name in enumerate(names):
            values = panel.values(name, t)[rows]
            if values.dtype.kind == "f":
                v = np.where(np.isnan(values), -1e300, np.round(values, 6)).view(np.uint64)
            else:
                v = values.astype(np.int64).astype(np.uint64)
            h ^= (v + np.uint64(i + 1)) * _MIX
            h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    return h


@dataclass
class GuardIndex:
    """Per period, the hashes of the input's person-periods and those rarer than k."""

    names: dict[int, list[str]] = field(default_factory=dict)
    known: dict[int, np.ndarray] = field(default_factory=dict)  # sorted unique hashes
    rare: dict[int, int] = field(default_factory=dict)  # number of rare combinations, for the report


def build_index(source: Panel, qi: tuple[str, ...] | None, k: int) -> GuardIndex:
    index = GuardIndex()
    names = _qi_variables(qi, source)
    for t in range(len(source.periods)):
        rows = np.nonzero(source.present[t])[0]
        index.names[t] = period_variables(source, names, t)
        hashes, counts = np.unique(row_hashes(source, index.names[t], t, rows), return_counts=True)
        index.known[t] = hashes  # every input combination is forbidden; those < k are the rare ones
        index.rare[t] = int((counts < k).sum())
    return index


def collisions(index: GuardIndex, output: Panel, t: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows (indices into the panel) whose person-period at t equals some input person-period."""
    rows = np.nonzero(output.present[t])[0] if rows is None else rows
    if len(rows) == 0 or len(index.known[t]) == 0 or not index.names[t]:
        return rows[:0]
    h = row_hashes(output, index.names[t], t, rows)
    pos = np.minimum(np.searchsorted(index.known[t], h), len(index.known[t]) - 1)
    return rows[index.known[t][pos] == h]


def merge_figures(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Guard figures of two runs over the same periods (coverage rounds, or partitions): collisions and
    whole-person redraws add up, rounds take the max. The one merge both engines use."""
    if not total:
        return dict(more)
    return {**more, "collisions_before": {p: total["collisions_before"][p] + n
                                          for p, n in more["collisions_before"].items()},
            "rounds": max(total["rounds"], more["rounds"]),
            "whole_person_redraws": total["whole_person_redraws"] + more["whole_person_redraws"]}
