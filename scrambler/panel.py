"""The panel: persons x periods, held as numpy arrays, the engine's one internal representation.

Categorical values are int8 (int16 for long code lists) indexes into the code list (-1 = null); numbers are
float64 (NaN = null); time values are whole numbers of their grain (see :mod:`scrambler.spec.time`) held as
float32 (NaN = null; every one exact). Period variables are (T, n) arrays so a period is one contiguous row.
Tables are views of the panel (:mod:`scrambler.tables`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from scrambler.constraints.base import NEXT, PREVIOUS, Frame
from scrambler.spec.model import DatasetSpec, Variable

CODE_DTYPE = np.int16


def code_dtype(var: Variable) -> type[np.signedinteger]:  # type: ignore[type-arg]
    """int8 when the code list fits (most do): the 7.5-million-person panel halves its biggest arrays."""
    return np.int8 if len(var.codes) < 127 else CODE_DTYPE


#: time values are whole numbers of their grain (a year, year*12 + month - 1, ...), below 120,000 for any year
#: up to 9999: float32 holds every one exactly (up to 2**24), in half the bytes. At 7.5 million persons the
#: default spec's three monthly time variables weigh 0.45 GB less per panel, and a scramble holds two
TIME_DTYPE = np.float32
TIME_TYPES = ("year", "year_month", "year_quarter")
#: float32 holds every whole number up to this size exactly
FLOAT32_EXACT = 2**24


def value_dtype(var: Variable) -> type[np.generic]:
    """The dtype of a variable's values in a panel (null: -1 for codes, NaN for numbers)."""
    if var.is_categorical:
        return code_dtype(var)
    return TIME_DTYPE if var.type in TIME_TYPES or small_whole(var) else np.float64


def small_whole(var: Variable) -> bool:
    """An integer variable whose declared range lies within +-FLOAT32_EXACT (a duration of 0-588 months): held
    in float32 like time values, exactly, in half the bytes (0.15 GB per 7.5-million-person panel for one
    periodic variable of five periods). A value beyond that bound is refused when read (columns.decode_numeric)
    rather than rounded; values the scramble makes keep the declared range."""
    low, high = var.constraints.minimum, var.constraints.maximum
    return (var.type == "integer" and isinstance(low, int | float) and isinstance(high, int | float)
            and -FLOAT32_EXACT <= low and high <= FLOAT32_EXACT)


def empty_values(var: Variable, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, -1 if var.is_categorical else np.nan, dtype=value_dtype(var))


def is_null(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) if values.dtype.kind == "f" else values < 0


def null_of(values: np.ndarray) -> float:
    """The null of a panel array's dtype (what is_null finds): NaN for numbers, -1 for codes."""
    return np.nan if values.dtype.kind == "f" else -1


def differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two arrays of the same variable hold different values, a null equal to a null (NaN to NaN)."""
    if a.dtype.kind == "f":
        return (a != b) & ~(np.isnan(a) & np.isnan(b))
    return a != b


class _LazyColumns(Mapping[str, np.ndarray]):
    """Columns of a panel at one period for some rows, gathered on first access and cached.

    The sampler evaluates a handful of rules per variable; copying all ~70 columns for each draw cost a
    third of the generator's time."""

    def __init__(self, panel: Panel, t: int, rows: np.ndarray | None) -> None:
        self.panel, self.t, self.rows = panel, t, rows
        self.cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        got = self.cache.get(name)
        if got is None:
            if name.startswith((PREVIOUS, NEXT)):
                got = self._shifted(name)
            else:
                arr = self.panel.static.get(name)
                arr = self.panel.periodic[name][self.t] if arr is None else arr
                got = arr if self.rows is None else arr[self.rows]
            self.cache[name] = got
        return got

    def _shifted(self, key: str) -> np.ndarray:
        """A variable at the period before (``previous:x``) or after (``next:x``): null past the panel's ends
        and where that period's value is unobserved (a table reader sees no value there)."""
        shift, name = (-1, key[len(PREVIOUS):]) if key.startswith(PREVIOUS) else (1, key[len(NEXT):])
        panel, s = self.panel, self.t + shift
        if name in panel.static:
            arr = panel.static[name]
            return arr if self.rows is None else arr[self.rows]
        var = panel.spec.variables[name]
        n = panel.n if self.rows is None else len(self.rows)
        if not 0 <= s < len(panel.periods) or not panel.readable(name, s):
            return empty_values(var, (n,))
        arr = panel.periodic[name][s]
        values = arr if self.rows is None else arr[self.rows]
        seen = panel.is_observed(name, s)
        if seen is not None:
            seen = seen if self.rows is None else seen[self.rows]
            values = np.where(seen, values, empty_values(var, (1,))[0])
        return values

    def __iter__(self) -> Iterator[str]:
        return iter([*self.panel.static, *self.panel.periodic])

    def __len__(self) -> int:
        return len(self.panel.static) + len(self.panel.periodic)

    def __contains__(self, name: object) -> bool:
        return name in self.panel.static or name in self.panel.periodic


@dataclass
class Panel:
    spec: DatasetSpec
    ids: np.ndarray  # (n,) int64 sequence numbers
    present: np.ndarray  # (T, n) bool
    static: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,)
    periodic: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (T, n)
    observed: dict[str, np.ndarray] | None = None  # name -> (T, n) bool; None: everything observed
    source_ids: np.ndarray | None = None  # (n,) national numbers (str), never published
    # (n,) bool while a caller tracks which persons coverage rewrites (so the guard rechecks only them)
    touched: np.ndarray | None = None
    # while a first draw fills the panel period by period: the periods from this one on hold no values yet (not
    # even nulls, see empty(unfilled=True)) and read as null; None: every period holds its values
    drawn: int | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def periods(self) -> tuple[int, ...]:
        return self.spec.panel.periods

    @classmethod
    def empty(cls, spec: DatasetSpec, n: int, unfilled: bool = False) -> Panel:
        """A panel of n persons holding nulls. ``unfilled``: the periodic arrays are allocated but not written
        (``drawn`` = 0), so the system commits their pages only as :meth:`start_period` fills each period: a
        first draw of 7.5 million persons no longer holds the later periods' nulls (0.65 GB a period) beside
        the donor pools of the earlier ones (its peak fell from 7,980 to 7,783 MiB and moved to the draw's end,
        where every period is filled: benchmarks/README.md, session 22)."""
        T = len(spec.panel.periods)
        panel = cls(spec=spec, ids=np.zeros(n, dtype=np.int64), present=np.zeros((T, n), dtype=bool))
        for var in spec.data_variables:
            if var.is_static:
                panel.static[var.name] = empty_values(var, (n,))
            elif unfilled:
                panel.periodic[var.name] = np.empty((T, n), dtype=value_dtype(var))
            else:
                panel.periodic[var.name] = empty_values(var, (T, n))
        if unfilled:
            panel.drawn = 0
        return panel

    def start_period(self, t: int, rows: slice | None = None) -> None:
        """Fill period t (of ``rows``) of an unfilled panel with nulls and read it from now on: the periods
        before t must have been started already; the later ones still read as null."""
        if self.drawn is None or t > self.drawn:
            raise RuntimeError(f"period {t} started out of order (periods started: {self.drawn})")
        for values in self.periodic.values():
            values[t, slice(None) if rows is None else rows] = null_of(values)
        self.drawn = t + 1

    def end_first_draw(self) -> None:
        """Every period of an unfilled panel has been started (and drawn): it reads as a whole from now on."""
        if self.drawn != len(self.periods):
            raise RuntimeError(f"the draw filled {self.drawn} of {len(self.periods)} periods")
        self.drawn = None

    def readable(self, name: str, t: int) -> bool:
        """Whether period t of ``name`` holds values (a period an unfilled panel has not started reads as null)."""
        return name in self.static or self.drawn is None or t < self.drawn

    def values(self, name: str, t: int) -> np.ndarray:
        """Values of a variable at period index t (static variables: the same every period)."""
        if name in self.static:
            return self.static[name]
        return self.periodic[name][t]

    def frame(self, t: int, rows: np.ndarray | None = None) -> Frame:
        """The values at period t for ``rows``; columns are gathered lazily, only when a rule reads them."""
        n = self.n if rows is None else len(rows)
        return Frame(_LazyColumns(self, t, rows), np.full(n, self.periods[t], dtype=np.int64))

    def is_observed(self, name: str, t: int) -> np.ndarray | None:
        """Observation mask at period t, or None when every cell is observed."""
        if self.observed is None or name not in self.observed:
            return None
        return self.observed[name][t]

    def subset(self, rows: np.ndarray) -> Panel:
        """A panel of some persons (all their periods), e.g. the phase-1 sample."""
        return Panel(spec=self.spec, ids=self.ids[rows], present=self.present[:, rows],
                     static={k: v[rows] for k, v in self.static.items()},
                     periodic={k: v[:, rows] for k, v in self.periodic.items()},
                     observed=None if self.observed is None else _masks_at(self.observed, rows),
                     source_ids=None if self.source_ids is None else self.source_ids[rows])

    def sample(self, persons: int, seed: int, stream: int) -> Panel:
        """A simple random sample of ``persons`` whole persons (without replacement, in panel order), from a
        generator of its own: ``stream`` tells apart the samples drawn with one seed (the phase-1 sample, the
        draw's working sample, the reports'), so none moves another's or the run's generator."""
        return self.subset(sampled_rows(self.n, persons, seed, stream))

    def compact(self, rows: np.ndarray | slice) -> None:
        """Keep only ``rows`` (sorted), in place, one array at a time: peak memory grows by one variable,
        not by a second panel (a subset copy of 7.5 million persons would double it)."""
        self.ids = self.ids[rows]
        self.present = self.present[:, rows]
        for name in list(self.static):
            self.static[name] = self.static[name][rows]
        for name in list(self.periodic):
            self.periodic[name] = self.periodic[name][:, rows]
        if self.observed is not None:
            self.observed = _masks_at(self.observed, rows)
        if self.source_ids is not None:
            self.source_ids = self.source_ids[rows]

    def in_tables(self) -> np.ndarray:
        """Persons that appear in at least one table (present in some table period)."""
        index = {p: i for i, p in enumerate(self.periods)}
        mask = np.zeros(self.n, dtype=bool)
        for table in self.spec.tables:
            for p in table.periods:
                mask |= self.present[index[p]]
        return mask


def _masks_at(observed: dict[str, np.ndarray], rows: np.ndarray | slice) -> dict[str, np.ndarray]:
    """The observed masks at ``rows``: a mask several variables share (decode gives the variables of one table
    block one mask) stays one array, not a copy per variable (66 copies of a 1,000,000-person sample's
    masks were 0.33 GB beside 20 MB shared)."""
    cut: dict[int, np.ndarray] = {}
    for mask in observed.values():
        if id(mask) not in cut:
            cut[id(mask)] = mask[:, rows]
    return {name: cut[id(mask)] for name, mask in observed.items()}


def sampled_rows(n: int, persons: int, seed: int, stream: int) -> np.ndarray:
    """The sorted row numbers :meth:`Panel.sample` takes of a panel of ``n`` persons."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
    return np.sort(rng.choice(n, size=persons, replace=False))
