"""Proposals per method: what each output person-period is offered before the sampler enforces the rules."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from scrambler.constraints.base import Frame
from scrambler.memory import give_back
from scrambler.panel import Panel
from scrambler.scramble.donors import DonorPool, stratum_keys
from scrambler.scramble.nearness import count_keys, hash_columns, positions, unique_counts
from scrambler.scramble.plan import DEFAULT_AMOUNT, PERSON_SHARE, Block, Plan
from scrambler.scramble.spread import PERTURB_SHARE, spread
from scrambler.spec.model import DatasetSpec

Proposal = tuple[np.ndarray, np.ndarray] | None


class MethodProposals:
    """Callable handed to the sampler: (variable, t, rows, frame) -> (values, has) or None."""

    def __init__(self, spec: DatasetSpec, source: Panel, plan: Plan, anchor: np.ndarray,
                 rng: np.random.Generator, model_samples: Callable[[Block, int, int], dict[str, np.ndarray]] | None
                 = None, output: Panel | None = None) -> None:
        self.spec, self.source, self.plan, self.anchor = spec, source, plan, anchor
        # the input persons donors come from (``source`` too, unless rebased: see rebase)
        self.pool_source = source
        self.output = output  # the panel being drawn: its last period matches new donors (Block.lagged)
        self.seed = int(rng.integers(0, 2**63 - 1))
        self.lock = threading.Lock()
        self.model_samples = model_samples
        # the main draw's donors, one array per swap block rewritten period by period (see _donors); None
        # once that draw is over, when redraws reach periods in any order and use ``donors`` instead
        self.rolling: dict[str, tuple[np.ndarray, np.ndarray]] | None = {}
        self.donors: dict[tuple[str, int], np.ndarray] = {}  # (block, t) -> donor per output person (-1 none)
        self.pools: dict[tuple[tuple[str, ...], tuple[str, ...], int], DonorPool] = {}  # (now, lagged, t): shared
        self.model_cache: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        self.shifts: dict[str, tuple[float, np.ndarray]] = {}  # perturbed variable -> (amount, person shifts)
        self.rare_blocks: dict[tuple[str, int], tuple[bool, np.ndarray]] = {}  # (swap block, t): see _rare_tuples
        self.broken_var: dict[str, np.ndarray] = {}  # swap block -> per output person, the variable drawn afresh

    def __call__(self, name: str, t: int, rows: np.ndarray, frame: Frame, rng: np.random.Generator) -> Proposal:
        block = self.plan.method_of.get(name)
        if block is None:
            return None
        var = self.spec.variables[name]
        if block.method == "keep":
            return self._values(name, t, self.anchor[rows])
        if block.method == "recode":
            values, has = self._values(name, t, self.anchor[rows])
            perm = self.plan.recode[name]
            return np.where(values < 0, -1, perm[np.where(values < 0, len(perm) - 1, values)]).astype(np.int16), has
        if block.method == "perturb":
            values, has = self._values(name, t, self.anchor[rows])
            amount, shift = self._person_shift(block, name)
            # the person's own shift plus a smaller one of this period: the trajectory moves as a whole, so a
            # near-copy of a real path is broken on every period at once while year-to-year change stays real
            noise = amount * (PERSON_SHARE * shift[rows] + (1 - PERSON_SHARE) * rng.uniform(-1, 1, len(rows)))
            if var.integral:
                noise = np.rint(noise)
            return values + noise, has
        if block.method == "swap":
            donors = self._donors(block, t, rows, frame, rng)
            values, has = self._values(name, t, np.maximum(donors, 0), self.pool_source)
            return values, has & (donors >= 0) & ~self._broken(block, name, t, rows, donors)
        if block.method == "model" and self.model_samples is not None:
            key = (block.name, t)
            with self.lock:
                if key not in self.model_cache:
                    self.model_cache[key] = self.model_samples(block, t, len(self.anchor))
            values = self.model_cache[key][name][rows]
            return values, np.ones(len(rows), dtype=bool)
        return None  # fabricate: draw from the profile (or uniform) inside the allowed set

    def _person_shift(self, block: Block, name: str) -> tuple[float, np.ndarray]:
        """The largest shift of a perturbed variable and each output person's own shift in [-1, 1] (drawn
        once, from a generator of its own, so every period and every redraw of the person sees the same)."""
        with self.lock:
            if name not in self.shifts:
                var = self.spec.variables[name]
                if block.amount is not None:
                    amount = block.amount
                elif var.type in DEFAULT_AMOUNT:
                    amount = DEFAULT_AMOUNT[var.type]
                else:
                    amount = PERTURB_SHARE * spread(self.source, name)
                seed = np.random.SeedSequence([self.seed, *name.encode()])
                # float32: half the bytes (0.15 GB for five perturbed variables at 7.5 million persons); a
                # shift's last bits do not matter, its value is what the person's values move by
                self.shifts[name] = (amount, np.random.default_rng(seed).uniform(-1, 1, len(self.anchor))
                                     .astype(np.float32))
            return self.shifts[name]

    def prepare_shifts(self, order: list[str]) -> None:
        """Every perturbed variable's shifts, in the draw's order (the order they were first asked in): a
        part drawn in another process computes its own, and the guard's ``renew_shifts`` must find them all
        here whichever part asked first."""
        for name in order:
            block = self.plan.method_of.get(name)
            if block is not None and block.method == "perturb":
                self._person_shift(block, name)

    def _broken(self, block: Block, name: str, t: int, rows: np.ndarray, donors: np.ndarray) -> np.ndarray:
        """Rows whose donor's block tuple is held by fewer than guard k input persons at t and whose value of
        ``name`` is the one drawn afresh (one variable of the block per output person): a rare tuple of real
        values is not handed over intact."""
        if len(block.variables) < 2:
            return np.zeros(len(rows), dtype=bool)
        key = (block.name, t)
        with self.lock:
            if key not in self.rare_blocks:
                self.rare_blocks[key] = self._rare_tuples(block, t)
            if block.name not in self.broken_var:
                seed = np.random.SeedSequence([self.seed, 0xB10C, *block.name.encode()])
                self.broken_var[block.name] = np.random.default_rng(seed).integers(
                    0, len(block.variables), len(self.anchor)).astype(np.int8)
        exact, rare = self.rare_blocks[key]
        mine = self.broken_var[block.name][rows] == block.variables.index(name)
        if len(rare) == 0 or not mine.any():
            return np.zeros(len(rows), dtype=bool)
        # only the rows whose drawn-afresh variable is this one (1 in len(block) of them) are looked up: the
        # gather and hash of every row for every variable of the block cost 5 s of a 200,000-person draw
        at = np.nonzero(mine & (donors >= 0))[0]
        d = donors[at]
        broken = np.zeros(len(rows), dtype=bool)
        probe = self._tuple_keys(block, [self.pool_source.values(v, t)[d] for v in block.variables], exact)
        pos = positions(rare, probe)
        broken[at] = rare[pos] == probe
        return broken

    def _tuple_keys(self, block: Block, cols: list[np.ndarray], exact: bool) -> np.ndarray:
        """Each row's tuple of the block as one integer: exact (mixed radix over the code lists) or hashed."""
        if exact:
            return stratum_keys(cols, [len(self.spec.variables[v].codes) for v in block.variables], len(cols[0]))
        return hash_columns(cols, len(cols[0]))

    def _rare_tuples(self, block: Block, t: int) -> tuple[bool, np.ndarray]:
        """(exact, the sorted keys of the block's tuples held by fewer than guard k input persons at t). Code
        variables whose tuples fit 63 bits are keyed exactly and counted by count_keys (a bincount where
        the key space is small: hashing and counting every input person's tuple for each block and period
        took 2.3 s of a 1,000,000 -> 100,000 draw); other blocks by a 64-bit hash."""
        src = self.pool_source
        persons = np.nonzero(src.present[t])[0]
        cols = [src.values(v, t)[persons] for v in block.variables]
        # stratum_keys gives each code list two more slots (null and its offset); Python's integers: a wide
        # block's product would overflow int64
        space = math.prod(len(self.spec.variables[v].codes) + 2 for v in block.variables)
        exact = all(self.spec.variables[v].is_categorical for v in block.variables) and space < 2**63
        keys = self._tuple_keys(block, cols, exact)
        tuples, counts = count_keys(keys, [space]) if exact else unique_counts(keys)
        return exact, tuples[counts < self.spec.scramble.guard_k]

    def renew_shifts(self, persons: np.ndarray, rng: np.random.Generator) -> None:
        """New perturbation shifts for these output persons: the guard moves a near-copy of a real path."""
        with self.lock:
            for _, shift in self.shifts.values():
                shift[persons] = rng.uniform(-1, 1, len(persons))

    def rebase(self, anchored: Panel, pool_source: Panel) -> None:
        """Read the anchors' values from ``anchored`` (the input's columns of the variables the anchors propose,
        every person) and draw new donors from ``pool_source`` (a part of the input: scramble.remnant), once
        the main draw is over and the input was compacted. The pools, donors and rare tuples of the draw are
        gone by then (finish_period); those a later redraw builds come from ``pool_source``."""
        with self.lock:
            self.source, self.pool_source = anchored, pool_source

    def _values(self, name: str, t: int, persons: np.ndarray, src: Panel | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        return self._source_values(name, t, persons, src), np.ones(len(persons), dtype=bool)

    def _source_values(self, name: str, t: int, persons: np.ndarray, src: Panel | None = None) -> np.ndarray:
        """The input persons' values at t (of ``src``, default the anchors' panel), unpublished cells taken
        from their nearest published period: what every method proposes and what donors are grouped by (a
        stratum read as null where the input does not show it found no donor, and the block was fabricated
        from the pooled marginal instead)."""
        src = self.source if src is None else src
        if name in src.static:
            return src.static[name][persons].copy()
        return unpublished_from_neighbours(src, name, t, persons, src.periodic[name][t, persons].copy())

    def finish_period(self, t: int) -> None:
        """The main draw has finished period t: its pools and its model samples are no longer read - redraws
        after the main draw (backtracking, coverage, the guard) propose only from the anchor. At full scale
        this keeps about 0.7 GB per period from piling up. Past the last period the main draw is over: its
        donors go too (each block's one array: see _donor_table; the per-period ones start empty after it)."""
        with self.lock:
            if t >= len(self.spec.panel.periods):
                self.rolling = None
            for pool_key in [k for k in self.pools if k[2] == t]:
                del self.pools[pool_key]
            for model_key in [k for k in self.model_cache if k[1] == t]:
                del self.model_cache[model_key]
            for key in [k for k in self.rare_blocks if k[1] == t]:
                del self.rare_blocks[key]
        # the period's pools and their working copies are gone: their pages back to the system before the next
        # period's are built (the draw of 7.5 million persons otherwise rose ~0.3 GB over its periods)
        give_back(len(self.anchor))

    def _pool(self, block: Block, t: int, now: tuple[str, ...], lagged: tuple[str, ...] = ()) -> DonorPool:
        """The donor pool of a block at t, grouped by the ``now`` variables' values at t and the ``lagged``
        variables' values at t - 1 (null where the person was absent); built under a lock with its own seeded
        generator, so that threads drawing chunks in parallel all see the same pool."""
        key = (now, lagged, t)
        with self.lock:
            if key in self.pools:
                return self.pools[key]
            src = self.pool_source
            persons = np.nonzero(src.present[t])[0]
            cols = [self._source_values(s, t, persons, src) for s in now]
            cols += [np.where(src.present[t - 1, persons], self._source_values(v, t - 1, persons, src), -1)
                     for v in lagged]
            sizes = [len(self.spec.variables[s].codes) for s in now + lagged]
            seed = np.random.SeedSequence([self.seed, t, *"|".join(now + ("/",) + lagged).encode()])
            self.pools[key] = DonorPool(stratum_keys(cols, sizes, len(persons)), persons,
                                        np.random.default_rng(seed))
            return self.pools[key]

    def _donors(self, block: Block, t: int, rows: np.ndarray, frame: Frame, rng: np.random.Generator) -> np.ndarray:
        """Donors of a block for these rows at t: last period's donor when it still fits, else a new one."""
        table, drawn = self._donor_table(block.name, t)
        need = table[rows] == -2 if drawn is None else drawn[rows] != t
        if need.any():
            todo = rows[need]
            now = block.strata + block.context
            sizes = [len(self.spec.variables[s].codes) for s in now]
            mine = {s: frame[s][need] for s in now}  # the output persons' values, read once
            out_keys = stratum_keys(list(mine.values()), sizes, len(todo))
            chosen = np.full(len(todo), -1, dtype=np.int64)
            candidate: np.ndarray | None = None
            if drawn is not None:  # last period's donor, where the person drew one then
                candidate = np.where(drawn[todo] == t - 1, table[todo], -1)
            elif (prev := self.donors.get((block.name, t - 1))) is not None:
                candidate = prev[todo]
            if candidate is not None:
                ok = candidate >= 0
                ok[ok] &= self.pool_source.present[t, candidate[ok]]
                if now and ok.any():
                    src_keys = stratum_keys([self._source_values(s, t, candidate[ok], self.pool_source)
                                             for s in now],
                                            sizes, int(ok.sum()))
                    ok[ok] &= src_keys == out_keys[ok]
                chosen[ok] = candidate[ok]
            fresh = np.nonzero(chosen < 0)[0]
            if len(fresh):
                chosen[fresh] = self._fresh(block, t, todo[fresh], {s: v[fresh] for s, v in mine.items()}, rng)
            table[todo] = chosen
            if drawn is not None:
                drawn[todo] = t
        return table[rows]

    def _donor_table(self, block: str, t: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Where a block's donors at t are held: (donors, the period each was drawn for) during the main draw,
        (donors at t, None) after it (-2: not drawn yet).

        Why one array in the main draw: it reaches the periods in order, and a person's donor of t - 1 is
        read once, when the person's donor at t is first drawn, so the donor of t can take its place. Two
        arrays per block (t - 1 and t) were 172 MiB of the 7.5M -> 7.5M run's peak at the last period, one
        and a period tag 43 (benchmarks/README.md, session 23). The redraws after it reach periods in any
        order: one array per period."""
        n = len(self.anchor)
        with self.lock:
            if self.rolling is None:
                return self.donors.setdefault((block, t), np.full(n, -2, dtype=np.int32)), None
            if block not in self.rolling:
                tag = np.int8 if len(self.spec.panel.periods) < 127 else np.int16
                self.rolling[block] = (np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=tag))
            return self.rolling[block]

    def _fresh(self, block: Block, t: int, who: np.ndarray, mine: dict[str, np.ndarray],
               rng: np.random.Generator) -> np.ndarray:
        """New donors for output persons ``who`` (``mine``: their values of the strata and context at t): a
        donor like the person in the block's strata, in what the rules
        tie the block to among the values drawn before it (``Block.context``), and in last period's values of
        the block's variables that a rule across time ties (``Block.lagged``); where no input person is that
        alike, the next coarser grouping, down to the strata alone.

        Why: a donor is accepted only where its values keep every rule. One unlike the person in what a rule
        reads was rejected and the block drawn from the pooled marginal instead, which pulled the marginals
        apart: a fresh donor with another past is accepted by a rule across time only when it moves the right
        way (a diploma is not lost; high education went from 29% to 40% of a table in five years), one with
        another status flag than the person's only where that flag allows its day type."""
        out = self.output
        lagged = block.lagged if t > 0 and out is not None else ()
        # finest first; a block without context or lagged variables has fewer distinct levels
        levels = dict.fromkeys([(block.strata + block.context, lagged), (block.strata, lagged), (block.strata, ())])
        picks = np.full(len(who), -1, dtype=np.int64)
        for now, lag in levels:
            left = np.nonzero(picks < 0)[0]
            if len(left) == 0:
                break
            cols = [mine[s][left] for s in now]
            if lag:
                assert out is not None
                cols += [np.where(out.present[t - 1, who[left]], out.values(v, t - 1)[who[left]], -1) for v in lag]
            sizes = [len(self.spec.variables[s].codes) for s in now + lag]
            picks[left] = self._pool(block, t, now, lag).pick(stratum_keys(cols, sizes, len(left)), rng)
        return picks


def unpublished_from_neighbours(src: Panel, name: str, t: int, persons: np.ndarray,
                                values: np.ndarray) -> np.ndarray:
    """``values`` (the persons' values of ``name`` at ``t``) where no table of the input shows the cell are
    taken from the person's nearest period that shows it (the earlier one on a tie).

    An extract publishes some variables only at some periods (one declared spec shows age and nationality in
    year T, not in its T-1 and T+1 blocks), so the input holds no value there. The output still needs one
    wherever a rule across time reads it; proposing null there made the sampler draw it from the pooled
    marginal, unrelated to the person's next period, and the rules across time (age advances at most one class
    a year, Belgian stays Belgian) then pulled every later kept value towards what that random start allowed:
    age 60-64 went from 11% to 25% of a table, Belgian nationality from 85% to 97%. The neighbour's value is
    what the person most plausibly had; it is never published itself."""
    obs = src.is_observed(name, t)
    if obs is None:
        return values
    missing = np.nonzero(~obs[persons])[0]
    T = len(src.periods)
    for step in range(1, T):
        if len(missing) == 0:
            break
        for tt in (t - step, t + step):
            if not 0 <= tt < T or len(missing) == 0:
                continue
            there = src.is_observed(name, tt)
            if there is None:
                continue
            who = persons[missing]
            found = there[who] & src.present[tt, who]
            values[missing[found]] = src.periodic[name][tt, who[found]]
            missing = missing[~found]
    return values
