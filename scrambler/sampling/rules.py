"""What the sampler knows per variable (its domain and the rules that decide it at each kind of person-period)
and the temporal neighbours of a value: the public surface that coverage moves and the guard use too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.domain import Domain
from scrambler.panel import Panel, is_null
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
    values = panel.periodic[name]
    # One gather per side instead of a loop over the periods: a monthly panel has ~150 of them and coverage
    # moves call this for a handful of rows thousands of times (on a 154-month panel: half of a scramble's time).
    before = values[t - 1 :: -1, rows] if t > 0 else values[:0, rows]
    return _closest(before), _closest(values[t + 1 :, rows])


def _closest(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first non-null value down each column of ``block`` (rows ordered nearest period first) and its gap."""
    n = block.shape[1]
    null_value = -1 if block.dtype.kind != "f" else np.nan
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
