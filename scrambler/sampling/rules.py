"""What the sampler knows per variable (its domain and the rules that decide it at each kind of person-period)
and the temporal neighbours of a value: the public surface that coverage moves and the guard use too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.domain import Domain
from scrambler.panel import Panel, is_null, null_of
from scrambler.spec.model import Variable

Neighbours = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class VariableRules:
    """A variable's domain and the rules that hold when it is drawn (in the sampler's order)."""

    var: Variable
    domain: Domain
    first_rules: list[CompiledRule]  # rules applied at a person's first present period
    later_rules: list[CompiledRule]  # ... at later periods (statics are known then)
    absent_rules: list[CompiledRule]  # ... on absent person-periods (scope: always variables)
    temporal: list[CompiledRule]


def neighbours(panel: Panel, name: str, t: int, rows: np.ndarray) -> Neighbours:
    """(previous value, gap) and (next value, gap) of the closest non-null values of ``name`` around t."""
    return _around(panel.periodic[name], t, rows, panel.drawn)


def _around(values: np.ndarray, t: int, rows: np.ndarray, stop: int | None = None) -> Neighbours:
    """The closest non-null values of ``values`` (periods x persons) before and after t, for ``rows``; periods
    from ``stop`` on are not read (a first draw has not filled them: null)."""
    # One gather per side instead of a loop over the periods: a monthly panel has ~150 of them and coverage
    # moves call this for a handful of rows thousands of times (on a 154-month panel: half of a scramble's time).
    before = values[t - 1 :: -1, rows] if t > 0 else values[:0, rows]
    return _closest(before), _closest(values[t + 1 : stop, rows])


def published_neighbours(panel: Panel, name: str, t: int, rows: np.ndarray) -> Neighbours | None:
    """The same between *published* values only, or None where every present cell of the variable is
    published (most variables of most specs). A check of the tables sees only published values, a check of
    the panel every value: a transition 3 -> 2 -> 3 through a period no table shows reads 3 -> 3 in the
    tables (half the persons of a stand-in broke it), so the sampler keeps the rules on both chains. A row
    whose cell at t is not published gets none (null, gap 0): the tables show nothing to constrain there."""
    hidden = _unpublished(panel, name, rows)
    if hidden is None:
        return None
    values = panel.periodic[name][:, rows].copy()
    values[hidden] = null_of(values)
    (prev, pgap), (nxt, ngap) = _around(values, t, np.arange(len(rows)), panel.drawn)
    off = hidden[t]
    prev[off], nxt[off], pgap[off], ngap[off] = values[t, off], values[t, off], 0, 0  # null: no constraint
    return (prev, pgap), (nxt, ngap)


def neighbour_sets(panel: Panel, name: str, t: int, rows: np.ndarray) -> list[Neighbours]:
    """Every chain a rule across time must hold on: the panel's values, and the published ones where they
    differ (:func:`published_neighbours`)."""
    published = published_neighbours(panel, name, t, rows)
    return [neighbours(panel, name, t, rows)] + ([published] if published is not None else [])


def _unpublished(panel: Panel, name: str, rows: np.ndarray) -> np.ndarray | None:
    """(periods, rows) True where the cell is not published though the person may hold a value there; None
    when every present cell of the variable is published."""
    partly = panel.spec.partly_published.get(name)
    if not partly:
        return None
    hidden = np.zeros((len(panel.periods), len(rows)), dtype=bool)
    for t, shown_from in partly.items():
        published = np.zeros(len(rows), dtype=bool)
        for t0 in shown_from:
            published |= panel.present[t0, rows]
        hidden[t] = ~published
    return hidden


def _closest(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first non-null value down each column of ``block`` (rows ordered nearest period first) and its gap."""
    n = block.shape[1]
    null_value = null_of(block)
    if block.shape[0] == 0:
        return np.full(n, null_value, dtype=block.dtype), np.zeros(n, dtype=np.int64)
    found = ~is_null(block)
    first = found.argmax(axis=0)
    cols = np.arange(n)
    has = found[first, cols]
    value = np.where(has, block[first, cols], null_value).astype(block.dtype, copy=False)
    gap = np.where(has, first + 1, 0).astype(np.int64, copy=False)
    return value, gap


def blame(counts: dict[str, dict[str, int]], name: str, culprit: str, rows: int) -> None:
    """Count ``rows`` dead ends of ``name`` against the rule (or "its domain") that emptied its values."""
    if rows:
        per = counts.setdefault(name, {})
        per[culprit] = per.get(culprit, 0) + rows
