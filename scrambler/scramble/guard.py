""""Depicts no real situation": no output person-period equals an input person-period on the quasi-
identifiers, and no quasi-identifier combination rarer than k in the input appears in the output.

The unit is the year block as published: at each table period, the variables of the tables' own-year
(offset 0) blocks. A table row is its own-year block plus blocks of other years, so a row whose own-year
block differs from every input one differs as a whole. Rows that collide are redrawn (more variables each
round) by the same sampler, so they stay valid.

"Equal" is near-equality: numbers within their tolerance (declared in ``scramble.guard.tolerance``, else
TOLERANCE_SHARE of their spread; time values exactly), categoricals exactly - a wage within a cent of a real
one depicts that person as much as the same wage. Beyond single person-periods, a person's whole path of
numbers (every numeric quasi-identifier over every period, with the presence pattern) within tolerance of
fewer than k real persons' paths is a near-copy of them and is redrawn; a path shared by k or more real
persons (everyone without a job has no wage) depicts none of them. Matching uses sorted keys over binned
values (:mod:`scrambler.scramble.nearness`), never pairwise distances: it runs on 7.5 million persons.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scrambler.panel import TIME_TYPES, Panel
from scrambler.scramble import nearness
from scrambler.scramble.spread import TOLERANCE_SHARE
from scrambler.spec.model import DatasetSpec

MIN_PATH_VALUES = 3  # a path guarded as a whole has at least this many values
#: rows (persons, person-periods) one search of the guard reads at once. Its working arrays (the query's
#: values, their hash, the dedup, the candidates) are several times the rows' values: over all 7.5 million
#: persons of a scramble into as many, 2-3 GB on top of the two panels at the guard's peak. Counts are per
#: row, so searching in blocks finds the same; a common value repeated across blocks is searched once per
#: block. 250,000 rather than 1,000,000: 0.23-0.33 GB less at the peak of a 1M -> 1M run, no slower
#: (benchmarks/README.md, session 20)
GUARD_BLOCK = 250_000


def qi_variables(spec: DatasetSpec) -> list[str]:
    """The quasi-identifiers the guard compares: those declared, else every published variable."""
    names = [v.name for v in spec.data_variables if v.publish]
    qi = spec.scramble.guard_quasi_identifiers
    return [n for n in names if n in qi] if qi is not None else names


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
    """A 64-bit hash of each row's values of ``names`` at period t (vectorised, order-sensitive), the rows
    gathered block by block as they are hashed (see nearness.hash_columns): a gather of whole columns of the
    present persons of a 7.5 million-person input was ~3.6 s of CPU of the guard's index."""
    return nearness.hash_columns([panel.values(name, t) for name in names], len(rows), rows)


def spread_names(spec: DatasetSpec, names: list[str]) -> list[str]:
    """The numeric quasi-identifiers whose tolerance comes from their spread (not declared, not time)."""
    return [n for n in names if spec.variables[n].is_numeric and spec.variables[n].type not in TIME_TYPES
            and spec.scramble.guard_tolerance.get(n) is None]


def tolerances(spec: DatasetSpec, names: list[str], spreads: dict[str, float]) -> dict[str, float]:
    """The tolerance of each numeric quasi-identifier: declared, else TOLERANCE_SHARE of its spread
    (``spreads``, for :func:`spread_names`); time values and whole numbers whose tolerance is below one step
    compare exactly (tolerance 0)."""
    out = {}
    for name in names:
        var = spec.variables[name]
        if not var.is_numeric:
            continue
        declared = spec.scramble.guard_tolerance.get(name)
        if declared is not None:
            tol = declared
        elif var.type in TIME_TYPES:
            tol = 0.0
        else:
            tol = TOLERANCE_SHARE * spreads[name]
        out[name] = 0.0 if var.integral and tol < 1 else tol
    return out


@dataclass
class GuardIndex:
    """Per period, the hashes of the input's person-periods (exact guard) or a near-equality index of them,
    those rarer than k, and the index of the input's numeric paths."""

    names: dict[int, list[str]] = field(default_factory=dict)
    known: dict[int, np.ndarray] = field(default_factory=dict)  # sorted unique hashes (exact guard)
    known_rare: dict[int, np.ndarray] = field(default_factory=dict)  # per known hash: held by fewer than k
    tolerance: dict[str, float] = field(default_factory=dict)  # numeric QIs (0: exact)
    near: dict[int, nearness.NearIndex] = field(default_factory=dict)  # per period, when some tolerance > 0
    path: dict[str, nearness.NearIndex] = field(default_factory=dict)  # per numeric QI with a tolerance
    k: int = 5
    # per declared quasi-identifier combination: (variables, {period index (-1: statics): sorted rare tuples})
    combos: list[tuple[tuple[str, ...], dict[int, np.ndarray]]] = field(default_factory=list)
    templates: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # input persons, no rare tuple

    def rare_counts(self) -> dict[int, int]:
        """Per period, how many distinct input person-periods fewer than k persons hold (for the manifest)."""
        return {t: int(rare.sum()) for t, rare in self.known_rare.items()}


def with_templates(index: GuardIndex, source: Panel) -> GuardIndex:
    """The index with ``source``'s persons that hold no rare tuple as templates for the redraws of those
    that do (indices into ``source``: a partition sets its own)."""
    if not index.combos:
        return index
    templates = np.setdiff1d(np.nonzero(source.in_tables())[0], rare_reproductions(index, source))
    return replace(index, templates=templates)


def period_columns(index: GuardIndex, panel: Panel, t: int, rows: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact hash, near values (m, rows), tolerances) of person-periods at t."""
    names = index.names[t]
    exact = [n for n in names if index.tolerance.get(n, 0) == 0]
    near = [n for n in names if index.tolerance.get(n, 0) > 0]
    values = np.array([panel.values(n, t)[rows] for n in near], dtype=np.float64).reshape(len(near), len(rows))
    return row_hashes(panel, exact, t, rows), values, np.array([index.tolerance[n] for n in near])


def path_columns(index: GuardIndex, panel: Panel, name: str, persons: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact hash, near values (T, persons), tolerances) of persons' paths of one variable: the presence
    pattern hashed, the value at each period one coordinate (NaN where absent)."""
    T = len(panel.periods)
    exact = nearness.hash_columns([panel.present[t, persons] for t in range(T)], len(persons))
    values = np.where(panel.present[:, persons], panel.periodic[name][:, persons], np.nan)
    return exact, values, np.full(T, index.tolerance[name])


def collisions(index: GuardIndex, output: Panel, t: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows (indices into the panel) whose person-period at t equals (within tolerance) some input
    person-period."""
    rows = np.nonzero(output.present[t])[0] if rows is None else rows
    if len(rows) > GUARD_BLOCK:
        return np.concatenate([collisions(index, output, t, block) for block in _blocks(rows)])
    if t in index.near and len(rows):
        exact, near, _ = period_columns(index, output, t, rows)
        return rows[nearness.match_counts(index.near[t], exact, near, cap=1) > 0]
    if len(rows) == 0 or len(index.known[t]) == 0 or not index.names[t]:
        return rows[:0]
    h = row_hashes(output, index.names[t], t, rows)
    pos = nearness.positions(index.known[t], h)
    return rows[index.known[t][pos] == h]


def _blocks(rows: np.ndarray) -> list[np.ndarray]:
    return [rows[start:start + GUARD_BLOCK] for start in range(0, len(rows), GUARD_BLOCK)]


def path_counts(index: GuardIndex, panel: Panel, name: str, persons: np.ndarray, cap: int) -> np.ndarray:
    """How many input persons' paths of ``name`` lie within tolerance of each person's (up to ``cap``)."""
    if name not in index.path or len(persons) == 0:
        return np.zeros(len(persons), dtype=np.int64)
    exact, near, _ = path_columns(index, panel, name, persons)
    return nearness.match_counts(index.path[name], exact, near, cap=cap)


def path_copies(index: GuardIndex, output: Panel, persons: np.ndarray | None = None,
                names: list[str] | None = None) -> np.ndarray:
    """Persons whose path of some numeric quasi-identifier (its value at every period; of ``names`` only, if
    given) is within tolerance of between 1 and k - 1 real persons' paths: a near-copy of someone's history
    (k or more: a common path, which depicts no one)."""
    persons = np.nonzero(output.present.any(axis=0))[0] if persons is None else persons
    if len(persons) > GUARD_BLOCK:
        return np.concatenate([path_copies(index, output, block, names) for block in _blocks(persons)])
    copy = np.zeros(len(persons), dtype=bool)
    for name in index.path if names is None else [n for n in names if n in index.path]:
        # a path of fewer values is a few person-periods, which the per-period guard judges with their context
        long = (output.present[:, persons] & ~np.isnan(output.periodic[name][:, persons])).sum(axis=0)
        long = long >= MIN_PATH_VALUES  # only those are searched: half the persons hold no FTE path at all
        counts = path_counts(index, output, name, persons[long], index.k)
        copy[long] |= (counts > 0) & (counts < index.k)
    return persons[copy]


def combinations(spec: DatasetSpec, qi: list[str]) -> list[tuple[str, ...]]:
    """The declared quasi-identifier combinations (``scramble.guard.combinations``), restricted to the
    quasi-identifiers. None by default: the static person block as a default took tuples rarer than k from
    2% of the persons of a 20,000-person input of a declared spec, and coverage then rebuilt them from the
    same rare templates round after round (a spec declares what it publishes as a combination)."""
    return [c for c in spec.scramble.guard_combinations or () if all(n in qi for n in c)]


def tuple_periods(panel: Panel, combo: tuple[str, ...]) -> list[int]:
    """-1 for a combination of statics (one tuple per person), else the periods of the tables."""
    if all(n in panel.static for n in combo):
        return [-1]
    table_periods = {p for table in panel.spec.tables for p in table.periods}
    return [t for t, p in enumerate(panel.periods) if p in table_periods]


def tuple_hashes(panel: Panel, combo: tuple[str, ...], t: int, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(persons concerned: in a table at t, or ever for statics; their tuple's hash)."""
    live = panel.in_tables()[persons] if t < 0 else panel.present[t, persons]
    rows = persons[live]
    return rows, nearness.hash_columns([panel.values(n, max(t, 0))[rows] for n in combo], len(rows))


def rare_reproductions(index: GuardIndex, output: Panel, persons: np.ndarray | None = None) -> np.ndarray:
    """Persons holding, at some table period, a tuple of a quasi-identifier combination that fewer than k
    input persons hold: the few real persons behind it would be recognisable."""
    persons = np.arange(output.n) if persons is None else persons
    hit = np.zeros(output.n, dtype=bool)
    for combo, rare in index.combos:
        for t, tuples in rare.items():
            if len(tuples) == 0:
                continue
            rows, keys = tuple_hashes(output, combo, t, persons)
            pos = nearness.positions(tuples, keys)
            hit[rows[tuples[pos] == keys]] = True
    return np.nonzero(hit)[0]


def scan(index: GuardIndex, output: Panel, persons: np.ndarray | None = None
         ) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Every check of the guard over ``persons`` (default: everyone): the colliding rows per period, the
    near-copies of real paths, the holders of rare tuples. The checks read the panel only and do not depend on
    each other, so they run on two threads (their numpy work leaves the GIL): a full pass over 200,000
    persons took 2.1 s one after the other, 1.5 s side by side. The paths go first, the longest check."""
    live = (lambda t: None) if persons is None else (lambda t: persons[output.present[t, persons]])
    with ThreadPoolExecutor(2) as pool:
        paths = pool.submit(path_copies, index, output, persons)
        periods = {t: pool.submit(collisions, index, output, t, live(t)) for t in range(len(output.periods))}
        rare = pool.submit(rare_reproductions, index, output, persons)
        return {t: f.result() for t, f in periods.items()}, paths.result(), rare.result()


def remaining(index: GuardIndex, output: Panel, persons: np.ndarray | None = None) -> list[str]:
    """What still depicts a real situation, in words naming the variables (empty: nothing)."""
    hits, copies_at, rare_at = scan(index, output, persons)
    left = []
    periods = sum(len(h) for h in hits.values())
    if periods:
        left.append(f"{periods} person-period(s) equal an input person-period (numbers within tolerance)")
    copies = len(copies_at)
    if copies:
        left.append(f"{copies} person(s) carry a path of {', '.join(index.path)} within tolerance of fewer than "
                    f"{index.k} real persons'")
    rare = len(rare_at)
    if rare:
        combos = "; ".join(", ".join(c) for c, _ in index.combos)
        left.append(f"{rare} person(s) hold a tuple of the quasi-identifier combination(s) ({combos}) that fewer "
                    f"than {index.k} input persons hold")
    return left


def merge_figures(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Guard figures of two runs over the same periods (coverage rounds, or partitions): collisions and
    whole-person redraws add up, rounds take the max. The one merge both engines use."""
    if not total:
        return dict(more)
    return {**more, "collisions_before": {p: total["collisions_before"][p] + n
                                          for p, n in more["collisions_before"].items()},
            "rounds": max(total["rounds"], more["rounds"]),
            **{key: total.get(key, 0) + more.get(key, 0) for key in ADDED_UP}}


#: guard figures that add up over coverage rounds and partitions
ADDED_UP = ("whole_person_redraws", "path_copies_before", "path_redraws", "rare_tuples_before")
