"""Combining the dask engine's partitions into what the local engine computes on the whole input: one guard
index, the output persons per partition, the combined panel, coverage gaps and guard figures, and the checks no
partition can make alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.domain import build_domain
from scrambler.coverage import BlockKey
from scrambler.errors import Issue, UnsatisfiableError
from scrambler.panel import Panel
from scrambler.scramble import guard as guard_mod
from scrambler.scramble.gaps import Gap
from scrambler.spec.model import DatasetSpec


def union_names(qi: list[str], parts: list[dict[int, list[str]]]) -> dict[int, list[str]]:
    """Per period, the guard columns some partition picks, in QI order: the columns every partition hashes
    (what build_index would pick on the whole input)."""
    return {t: [n for n in qi if any(n in part[t] for part in parts)] for t in parts[0]}


def merge_index(names: dict[int, list[str]], hashed: list[dict[int, tuple[np.ndarray, np.ndarray]]],
                k: int) -> guard_mod.GuardIndex:
    """One guard index from the partitions' (sorted unique hashes, counts) per period: what build_index gives
    on the whole input."""
    index = guard_mod.GuardIndex()
    for t, columns in names.items():
        hashes = np.concatenate([h[t][0] for h in hashed])
        counts = np.concatenate([h[t][1] for h in hashed])
        known, inverse = np.unique(hashes, return_inverse=True)
        index.names[t] = columns
        index.known[t] = known
        index.rare[t] = int((np.bincount(inverse, weights=counts, minlength=len(known)) < k).sum())
    return index


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
    issues = []
    hits = sum(len(guard_mod.collisions(index, out, t)) for t in range(len(out.periods)))
    if hits:
        issues.append(Issue(code="real-situation", message=f"{hits} person-period(s) equal an input person-period"))
    if len(np.unique(out.ids)) != out.n:
        issues.append(Issue(code="unique-error", message="sequence numbers repeat across partitions"))
    if np.isin(out.ids, input_ids).any():
        issues.append(Issue(code="id-reuse", message="a sequence number equals an input sequence number"))
    if issues:
        raise UnsatisfiableError(issues)


def sum_counts(parts: list[dict[BlockKey, np.ndarray]]) -> dict[BlockKey, np.ndarray]:
    out: dict[BlockKey, np.ndarray] = {}
    for counts in parts:
        for key, c in counts.items():
            out[key] = out[key] + c if key in out else c.copy()
    return out


def coverage_gaps(spec: DatasetSpec, wanted: dict[BlockKey, np.ndarray], have: dict[BlockKey, np.ndarray],
                  k: int, codelist: bool) -> list[Gap]:
    """Categories short of k in the combined output: those of the whole input (or every allowed code)."""
    gaps = []
    for (table, suffix, name), counts in wanted.items():
        var = spec.variables[name]
        needed = counts > 0
        if codelist:
            needed |= build_domain(var).codes_mask[:-1]  # type: ignore[index]
        got = have.get((table, suffix, name), np.zeros_like(counts))
        for code in np.nonzero(needed & (got < k))[0]:
            gaps.append(Gap(table, suffix, name, var.codes[code], k, int(got[code])))
    return gaps


def merge_guard(index: guard_mod.GuardIndex, parts: list[dict[str, Any]], spec: DatasetSpec) -> dict[str, Any]:
    """The partitions' guard figures merged the way the local engine merges its rounds' (one merge for both:
    :func:`~scrambler.scramble.guard.merge_figures`), with the rare combinations of the whole input's index."""
    guard: dict[str, Any] = {}
    for part in parts:
        guard = guard_mod.merge_figures(guard, part)
    guard["input_rare_combinations"] = {str(spec.panel.periods[t]): n for t, n in index.rare.items()}
    return guard
