"""Combining the dask engine's partitions into what the local engine computes on the whole input: one guard
index, the output persons per partition, the combined panel, coverage gaps and guard figures, and the checks no
partition can make alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.errors import Issue, UnsatisfiableError
from scrambler.panel import Panel
from scrambler.scramble import guard as guard_mod
from scrambler.scramble.cover import CoverageCounts
from scrambler.spec.model import DatasetSpec


def allocate(persons: int, sizes: list[int]) -> list[int]:
    """Output persons per partition, proportional to input persons (largest remainder, ties to the lower
    partition), at least one for every non-empty partition so each one's categories are covered."""
    total = sum(sizes)
    live = sum(1 for s in sizes if s)
    if persons < live:
        raise UnsatisfiableError([Issue(code="bad-argument", message=f"--persons {persons} is smaller than the "
                                        f"{live} non-empty partitions; use fewer partitions")])
    exact = [persons * s / total for s in sizes]
    shares = [int(x) for x in exact]
    for p in sorted(range(len(sizes)), key=lambda q: (shares[q] - exact[q], q))[:persons - sum(shares)]:
        shares[p] += 1
    for p in range(len(sizes)):
        while sizes[p] and shares[p] == 0:
            donor = max(range(len(sizes)), key=lambda q: (shares[q], -q))
            shares[donor] -= 1
            shares[p] += 1
    return shares


def concat_panels(spec: DatasetSpec, panels: list[Panel]) -> Panel:
    return Panel(spec=spec, ids=np.concatenate([p.ids for p in panels]),
                 present=np.concatenate([p.present for p in panels], axis=1),
                 static={n: np.concatenate([p.static[n] for p in panels]) for n in panels[0].static},
                 periodic={n: np.concatenate([p.periodic[n] for p in panels], axis=1) for n in panels[0].periodic})


def verify_combined(index: guard_mod.GuardIndex, out: Panel, input_ids: np.ndarray) -> None:
    """Global checks no partition can make alone: collisions against the whole input, ids unique and new."""
    # the local engine's last look, against the whole input: person-periods, paths and rare tuples (a
    # partition's guard saw the whole index, so this finds nothing unless a partition's bookkeeping slipped)
    issues = [Issue(code="real-situation", message=m) for m in guard_mod.remaining(index, out)]
    if len(np.unique(out.ids)) != out.n:
        issues.append(Issue(code="unique-error", message="sequence numbers repeat across partitions"))
    if np.isin(out.ids, input_ids).any():
        issues.append(Issue(code="id-reuse", message="a sequence number equals an input sequence number"))
    if issues:
        raise UnsatisfiableError(issues)


def sum_counts(parts: list[CoverageCounts]) -> CoverageCounts:
    total = parts[0]
    for more in parts[1:]:
        total = total.plus(more)
    return total


def merge_guard(index: guard_mod.GuardIndex, parts: list[dict[str, Any]], spec: DatasetSpec) -> dict[str, Any]:
    """The partitions' guard figures merged the way the local engine merges its rounds' (one merge for both:
    :func:`~scrambler.scramble.guard.merge_figures`), with the rare combinations of the whole input's index."""
    guard: dict[str, Any] = {}
    for part in parts:
        guard = guard_mod.merge_figures(guard, part)
    guard["input_rare_combinations"] = {str(spec.panel.periods[t]): n for t, n in index.rare_counts().items()}
    return guard
