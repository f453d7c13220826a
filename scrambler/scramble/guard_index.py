"""How the guard's index of the input is built (:class:`~scrambler.scramble.guard.GuardIndex`): what the
guard searches is in :mod:`scrambler.scramble.guard`.

The input's person-periods and paths are hashed and binned once: the local engine builds the whole input
as one part, each period and path indexed as soon as its rows are gathered; the dask engine has each
partition compute its :class:`IndexPart` and assembles them (:func:`assemble_index`) into the same index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from scrambler.panel import Panel
from scrambler.scramble import nearness
from scrambler.scramble.guard import (
    GuardIndex,
    combinations,
    path_columns,
    period_columns,
    period_variables,
    qi_variables,
    row_hashes,
    spread_names,
    tolerances,
    tuple_hashes,
    tuple_periods,
    with_templates,
)
from scrambler.scramble.spread import spread
from scrambler.spec.model import DatasetSpec


def build_index(source: Panel, threads: int = 1) -> GuardIndex:
    """The guard index of the whole input: the one-part case of :func:`index_part` and :func:`assemble_index`
    (the dask engine assembles many), each period and path built as soon as its rows are gathered, so that
    the rows of one (two with ``threads`` 2) are held at a time, not every period's and path's before any is
    built (~1.5 GB at 7.5 million persons). ``threads``: periods and paths indexed side by side (see _each)."""
    names = qi_variables(source.spec)
    k = source.spec.scramble.guard_k
    tolerance = tolerances(source.spec, names, {n: spread(source, n) for n in spread_names(source.spec, names)})
    skeleton = index_skeleton(source.spec, names, tolerance, k)
    index = _unfilled(skeleton)
    persons = np.nonzero(source.present.any(axis=0))[0]
    paths = _path_names(skeleton, source)

    def path(name: str) -> nearness.NearIndex:  # the rows gathered here are dropped when it returns
        return _path_index(index, [_path_rows(skeleton, source, name, persons)], name)

    def period(t: int) -> tuple[np.ndarray, np.ndarray, nearness.NearIndex | None]:
        return _period_index(index, t, [_period_rows(skeleton, source, t)])

    built = _each([partial(path, name) for name in paths] + [partial(period, t) for t in skeleton.names], threads)
    _place(index, paths, built)
    _combos(index, skeleton, [_tuple_counts(skeleton, source)])
    return with_templates(index, source)


def _unfilled(skeleton: GuardIndex) -> GuardIndex:
    """An index to fill: the skeleton's columns, tolerances and k (its combinations are filled with their rare
    tuples by _combos)."""
    return GuardIndex(names=dict(skeleton.names), tolerance=dict(skeleton.tolerance), k=skeleton.k)


def _each(jobs: Sequence[Callable[[], Any]], threads: int) -> list[Any]:
    """The jobs' results in order, ``threads`` at a time: an index's periods and paths are independent, and
    their hashing, sorting and gathering leave the GIL (at 7.5 million input persons the index took 64 s on
    one core while the other waited)."""
    if threads <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda job: job(), jobs))


def index_skeleton(spec: DatasetSpec, names: list[str], tolerance: dict[str, float], k: int) -> GuardIndex:
    """What the index needs before it sees data: the guarded columns per period, the tolerances, k and the
    declared combinations. Partitions compute their :func:`index_part` against it."""
    index = GuardIndex(k=k, tolerance=tolerance)
    empty = Panel.empty(spec, 0)
    index.names = {t: period_variables(empty, names, t) for t in range(len(spec.panel.periods))}
    index.combos = [(combo, {}) for combo in combinations(spec, names)]
    return index


@dataclass
class IndexPart:
    """What one part of the input contributes to the guard index. Parts concatenated in order give the whole
    input's index (:func:`assemble_index`): exact keys as (sorted unique, counts), near rows and paths raw."""

    known: dict[int, tuple[np.ndarray, np.ndarray]]
    near: dict[int, tuple[np.ndarray, np.ndarray]]  # per period: (exact keys, near values (m, rows))
    path: dict[str, tuple[np.ndarray, np.ndarray]]  # per variable: (presence keys, values (T, persons))
    tuples: list[dict[int, tuple[np.ndarray, np.ndarray]]]  # per combination, per period: (unique, counts)


def _period_rows(skeleton: GuardIndex, source: Panel, t: int
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """A part's person-periods at t: (distinct exact keys, counts), and (exact keys, near values) when some
    guarded variable there has a tolerance."""
    names = skeleton.names[t]
    rows = np.nonzero(source.present[t])[0]
    known = nearness.unique_counts(row_hashes(source, names, t, rows))
    if not any(skeleton.tolerance.get(n, 0) > 0 for n in names):
        return known, None
    exact, near, _ = period_columns(skeleton, source, t, rows)
    return known, (exact, near)


def _path_rows(skeleton: GuardIndex, source: Panel, name: str, persons: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    return path_columns(skeleton, source, name, persons)[:2]


def _path_names(skeleton: GuardIndex, source: Panel) -> list[str]:
    shown = {n for names_t in skeleton.names.values() for n in names_t}
    return [name for name in skeleton.tolerance
            if skeleton.tolerance[name] > 0 and name in shown and name in source.periodic]


def _tuple_counts(skeleton: GuardIndex, source: Panel) -> list[dict[int, tuple[np.ndarray, np.ndarray]]]:
    everyone = np.arange(source.n)
    return [{t: nearness.unique_counts(tuple_hashes(source, combo, t, everyone)[1])
             for t in tuple_periods(source, combo)} for combo, _ in skeleton.combos]


def index_part(skeleton: GuardIndex, source: Panel, threads: int = 1) -> IndexPart:
    part = IndexPart({}, {}, {}, [])
    persons = np.nonzero(source.present.any(axis=0))[0]
    paths = _path_names(skeleton, source)
    got = _each([partial(_path_rows, skeleton, source, name, persons) for name in paths]
                + [partial(_period_rows, skeleton, source, t) for t in skeleton.names], threads)
    part.path = dict(zip(paths, got, strict=False))
    for t, (known, near) in zip(skeleton.names, got[len(paths):], strict=True):
        part.known[t] = known
        if near is not None:
            part.near[t] = near
    part.tuples = _tuple_counts(skeleton, source)
    return part


def _merge_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:  # one machine: the part's keys are already sorted and distinct
        return parts[0][0], parts[0][1].astype(np.int64)
    keys, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]), minlength=len(keys))
    return keys, counts.astype(np.int64)


def _period_index(index: GuardIndex, t: int,
                  parts: list[tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]]
                  ) -> tuple[np.ndarray, np.ndarray, nearness.NearIndex | None]:
    """(known keys, held by fewer than k, near index or None) of period t from the parts' rows."""
    known, counts = _merge_counts([p[0] for p in parts])
    near = [p[1] for p in parts if p[1] is not None]
    if not near:
        return known, counts < index.k, None
    tol = np.array([index.tolerance[n] for n in index.names[t] if index.tolerance.get(n, 0) > 0])
    return known, counts < index.k, nearness.build(np.concatenate([e for e, _ in near]),
                                                   np.concatenate([v for _, v in near], axis=1), tol)


def _path_index(index: GuardIndex, parts: list[tuple[np.ndarray, np.ndarray]], name: str) -> nearness.NearIndex:
    return nearness.build(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts], axis=1),
                          np.full(len(index.names), index.tolerance[name]))


def _place(index: GuardIndex, paths: list[str], built: list[Any]) -> None:
    for name, near in zip(paths, built, strict=False):
        index.path[name] = near
    for t, (known, rare, near) in zip(index.names, built[len(paths):], strict=True):
        index.known[t] = known
        index.known_rare[t] = rare  # every input combination is forbidden; those < k are rare
        if near is not None:
            index.near[t] = near


def _combos(index: GuardIndex, skeleton: GuardIndex, parts: list[list[dict[int, tuple[np.ndarray, np.ndarray]]]]
            ) -> None:
    for i, (combo, _) in enumerate(skeleton.combos):
        rare = {}
        for t in parts[0][i]:
            tuples, counts = _merge_counts([p[i][t] for p in parts])
            rare[t] = tuples[counts < index.k]
        index.combos.append((combo, rare))


def assemble_index(skeleton: GuardIndex, parts: list[IndexPart], threads: int = 1) -> GuardIndex:
    """The guard index of the input made of ``parts`` (in order): what one part of the whole input gives.
    ``threads``: periods and paths built side by side (see _each)."""
    index = _unfilled(skeleton)
    paths = list(parts[0].path)
    built = _each([partial(_path_index, index, [p.path[name] for p in parts], name) for name in paths]
                  + [partial(_period_index, index, t, [(p.known[t], p.near.get(t)) for p in parts])
                     for t in skeleton.names], threads)
    _place(index, paths, built)
    _combos(index, skeleton, [p.tuples for p in parts])
    return index
