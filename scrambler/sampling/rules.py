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
    T = values.shape[0]
    null_value = -1 if values.dtype.kind != "f" else np.nan
    prev = np.full(len(rows), null_value, dtype=values.dtype)
    prev_gap = np.zeros(len(rows), dtype=np.int64)
    for s in range(t - 1, -1, -1):
        v = values[s, rows]
        take = is_null(prev) & ~is_null(v)
        prev[take], prev_gap[take] = v[take], t - s
    nxt = np.full(len(rows), null_value, dtype=values.dtype)
    next_gap = np.zeros(len(rows), dtype=np.int64)
    for s in range(t + 1, T):
        v = values[s, rows]
        take = is_null(nxt) & ~is_null(v)
        nxt[take], next_gap[take] = v[take], s - t
    return (prev, prev_gap), (nxt, next_gap)


def blame(counts: dict[str, dict[str, int]], name: str, culprit: str, rows: int) -> None:
    """Count ``rows`` dead ends of ``name`` against the rule (or "its domain") that emptied its values."""
    if rows:
        per = counts.setdefault(name, {})
        per[culprit] = per.get(culprit, 0) + rows
