"""Rare-category coverage: every input category (optionally every allowed code) at least k times per
variable per table block, as far as the constraints allow.

Stage 1 moves the category into person-periods where it breaks no rule as it stands. Stage 2 sets it and
redraws the rest of the person-period with the sampler (keeping every other value it still allows);
rows where the category does not survive are put back. What stays short is reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.domain import build_domain
from scrambler.coverage import BlockKey, block_counts
from scrambler.panel import Panel
from scrambler.sampling import Sampler
from scrambler.scramble.capacity import Floors, Target, floors_by_block, table_rows
from scrambler.scramble.combos import (
    WHOLE_PERSON_STRIKES,
    ComboKey,
    combination_counts,
    combo_targets,
    ensure_combinations,
    tuple_gaps,
)
from scrambler.scramble.gaps import Gap, explain_gaps
from scrambler.scramble.moves import cover_whole_persons, direct, redraw, rules_for, sample_rows, spare_rows
from scrambler.spec.model import DatasetSpec, TableSpec


def block_targets(wanted: dict[BlockKey, np.ndarray], rows: dict[str, int], spec: DatasetSpec, k: int,
                  codelist: bool) -> dict[BlockKey, tuple[np.ndarray, Target]]:
    """Per table block and variable: the codes coverage must give k (the input's, or with ``codelist`` every
    allowed one) and its target (k, or the block's share when it is too small: :mod:`capacity`). ``rows``:
    the output's persons per table."""
    out = {}
    for key, counts in wanted.items():
        table, _, name = key
        needed = counts > 0
        if codelist:
            needed = needed | build_domain(spec.variables[name]).codes_mask[:-1]  # type: ignore[index]
        out[key] = (needed, Target(k, int(needed.sum()), rows.get(table, 0)))
    return out


def _targets(targets: dict[BlockKey, tuple[np.ndarray, Target]], have: dict[BlockKey, np.ndarray]
             ) -> list[tuple[str, str, str, int, int]]:
    """(table, block, variable, code, shortfall) for every category below its target. ``have``: the output's
    block counts (each costs a pass over every table block: computed once per use)."""
    todo = []
    for key, (needed, target) in targets.items():
        table, suffix, name = key
        got = have.get(key, np.zeros(len(needed), dtype=np.int64))
        for code in np.nonzero(needed & (got < target.ask))[0]:
            todo.append((table, suffix, name, int(code), int(target.ask - got[code])))
    return todo


def ensure_coverage(source: Panel, out: Panel, sampler: Sampler, rng: np.random.Generator, k: int,
                    codelist: bool = False, passes: int = 3,
                    wanted: dict[BlockKey, np.ndarray] | None = None,
                    wanted_combos: dict[ComboKey, dict[tuple[int, ...], int]] | None = None) -> None:
    """Move or redraw values until every category (and declared tuple) reaches k, as far as the rules allow;
    :func:`shortfalls` tells what stays short. ``wanted``, ``wanted_combos``:
    the input's block and combination counts when the caller has them (they never change during a run)."""
    spec = out.spec
    index = {p: i for i, p in enumerate(out.periods)}
    tables = {name: (table, period) for name, table, period in spec.table_names()}
    rule_cache: dict[str, tuple[list[CompiledRule], list[CompiledRule]]] = {}
    wanted = block_counts(source) if wanted is None else wanted
    wanted_combos = (combination_counts(source, spec.scramble.coverage_combinations) if wanted_combos is None
                     else wanted_combos)
    rows_of = table_rows(out)
    targets = block_targets(wanted, rows_of, spec, k, codelist)
    floors = floors_by_block({**{key: t for key, (_, t) in targets.items()},
                              **combo_targets(wanted_combos, rows_of, k)})
    previous: int | None = None
    failures: dict[str, int] = {}  # whole-person redraws in a row that brought a variable's category to no one
    current: dict[BlockKey, np.ndarray] | None = None  # the output's counts as they stand, when known
    for _ in range(passes):
        have = block_counts(out)
        todo = _targets(targets, have)
        if not todo or (previous is not None and len(todo) >= previous):
            current = have  # nothing changed since they were counted: the combinations' turn reuses them
            break  # done, or a pass that closed nothing: the declared combinations below still need their turn
        previous = len(todo)
        held = scarce_rows(out, have, targets, floors, tables, index)
        for table_name, suffix, name, code, need in todo:
            table, period = tables[table_name]
            block = next(b for b in table.blocks if b.suffix == suffix)
            t0 = index[period]
            t = t0 + block.offset
            var = spec.variables[name]
            if name not in rule_cache:
                rule_cache[name] = rules_for(sampler, name)
            rows = out.present[t0].copy()
            if var.scope == "present" and not var.is_static:
                rows &= out.present[t]
            # an earlier item of this pass may have covered this one too (a whole trajectory shows its
            # value in every period): count again rather than overshoot the input's figures
            floor = floors[(table_name, suffix)]
            need = floor[name] - int((out.values(name, t)[rows] == code).sum())
            if need <= 0:
                continue
            rows &= out.values(name, t) != code
            size = max(200 * need, 5000)
            # Take the category only from rows whose own value (and declared tuples) can spare them.
            candidates = spare_rows(out, t0, t, block.variables, [name], k, spec.scramble.coverage_combinations,
                                    sample_rows(rows, 4 * size, rng), floor)[:size]
            if len(candidates) == 0:
                continue
            # a direct move changes this variable only (spare_rows vouches for it); a redraw changes the rest
            # of the person-period too, so it leaves alone the rows that hold what another item needs (else
            # it undid, item after item, what the one before had covered: a declared spec at 3,000 persons ended
            # with ~110 gaps a seed, all "not reached"); a whole-person redraw takes such persons last
            done = direct(out, sampler, name, code, t, candidates, need, *rule_cache[name])
            free = candidates[~held[t, candidates]]
            if done < need and not var.is_static:
                rest = _lacking(out, name, t, code, free)
                done += redraw(out, sampler, rng, name, code, t, rest[: 20 * (need - done)], need - done)
            if done < need and not var.is_static:
                templates = np.nonzero(source.present[t] & (source.values(name, t) == code))[0]
                if len(templates):
                    rest = _lacking(out, name, t, code, free)
                    rest = rest[: 20 * (need - done)]
                    chosen = templates[rng.integers(0, len(templates), size=len(rest))]
                    done += redraw(out, sampler, rng, name, code, t, rest, need - done, source=source,
                                   templates=chosen)
            if done < need and not var.is_static:
                # no input context lets it in (a code the input never shows, or shows in too few persons to
                # lend): draw it first and the rest of the person-period around it
                rest = _lacking(out, name, t, code, free)
                done += redraw(out, sampler.leading(name), rng, name, code, t, rest[: 20 * (need - done)],
                               need - done)
            if done < need and failures.get(name, 0) < WHOLE_PERSON_STRIKES:
                # a static that others depend on, or a periodic value that rules across time (constant, only
                # towards X) or an implied static (an exit code that means death needs a death month) tie to
                # the rest of the person: one cell cannot take it alone, a whole trajectory can
                took = cover_whole_persons(out, sampler, rng, t0, t, block.variables, {name: code}, need - done, k,
                                           spec.scramble.coverage_combinations, source, floor,
                                           avoid=held.any(axis=0))
                failures[name] = 0 if took else failures.get(name, 0) + 1
            now = candidates[out.values(name, t)[candidates] == code]  # what this item gave: others keep off it
            held[slice(None) if var.is_static else t, now] = True
    ensure_combinations(source, out, sampler, rng, k, passes, wanted_combos, floors,
                        scarce=lambda: scarce_rows(out, block_counts(out) if current is None else current, targets,
                                                   floors, tables, index))


def _lacking(out: Panel, name: str, t: int, code: int, rows: np.ndarray) -> np.ndarray:
    """The ``rows`` (distinct) that do not hold ``code`` at t, sorted as np.setdiff1d returned them - read on
    those rows only, not by a search of the whole column for the code at every step of every item."""
    return np.sort(rows[out.values(name, t)[rows] != code])


def scarce_rows(out: Panel, have: dict[BlockKey, np.ndarray], targets: dict[BlockKey, tuple[np.ndarray, Target]],
                floors: Floors, tables: dict[str, tuple[TableSpec, int]], index: dict[int, int]) -> np.ndarray:
    """(periods, persons): the person-periods holding a category that its table block cannot lend (held at
    or below its floor, ``have`` the output's block counts). A static held so counts at every period."""
    held = np.zeros(out.present.shape, dtype=bool)
    for key, (needed, _) in targets.items():
        table_name, suffix, name = key
        got = have.get(key)
        if got is None:
            continue
        scarce = needed & (got > 0) & (got <= floors[(table_name, suffix)][name])
        if not scarce.any():
            continue
        table, period = tables[table_name]
        t0 = index[period]
        t = t0 + next(b for b in table.blocks if b.suffix == suffix).offset
        # scarce per code, False for null (index -1): one gather instead of masked ones
        hit = out.present[t0] & np.append(scarce, False)[out.values(name, t)]
        if name in out.static:
            held[:, hit] = True
        else:
            held[t, hit] = True
    return held


def shortfalls(spec: DatasetSpec, counts: CoverageCounts, have: CoverageCounts, k: int,
               codelist: bool) -> list[Gap]:
    """Categories and declared tuples the output (its counts ``have``) holds fewer than k times where the
    input (``counts``) shows them, or every allowed code with ``codelist``; counts may be summed over
    partitions. A gap of a block too small for all its categories that holds its share is impossible at this
    size, with the count that shows it (:mod:`capacity`)."""
    gaps = []
    for key, (needed, target) in block_targets(counts.blocks, have.rows, spec, k, codelist).items():
        table_name, suffix, name = key
        got = have.blocks.get(key, np.zeros(len(needed), dtype=np.int64))
        for code in np.nonzero(needed & (got < k))[0]:
            gap = Gap(table_name, suffix, name, spec.variables[name].codes[code], k, int(got[code]))
            gaps.append(_by_capacity(gap, target))
    targets = combo_targets(counts.tuples, have.rows, k)
    return gaps + [_by_capacity(gap, targets[key]) for key, gap in tuple_gaps(spec, counts.tuples, have.tuples, k)]


def _by_capacity(gap: Gap, target: Target) -> Gap:
    if target.limited and gap.got >= target.share:
        return replace(gap, impossible=True, reason=target.reason())
    return gap


def stated_gaps(spec: DatasetSpec, counts: CoverageCounts, have: CoverageCounts, k: int, codelist: bool,
                held: dict[str, set[str]], rounds: int) -> list[Gap]:
    """The coverage gaps a run reports, explained (the last stage of both engines)."""
    return explain_gaps(spec, shortfalls(spec, counts, have, k, codelist), held, rounds)


@dataclass
class CoverageCounts:
    """Category counts per table block and tuple counts per declared combination: of the input (what coverage
    wants) or of the output (what it has); partitions' counts add up (:meth:`plus`)."""

    blocks: dict[BlockKey, np.ndarray]
    tuples: dict[ComboKey, dict[tuple[int, ...], int]]
    rows: dict[str, int]  # persons per table: what a block can hold at most (see capacity)

    @classmethod
    def of(cls, panel: Panel) -> CoverageCounts:
        return cls(block_counts(panel), combination_counts(panel, panel.spec.scramble.coverage_combinations),
                   table_rows(panel))

    def plus(self, other: CoverageCounts) -> CoverageCounts:
        blocks = {key: self.blocks[key] + c if key in self.blocks else c.copy() for key, c in other.blocks.items()}
        blocks.update({key: c for key, c in self.blocks.items() if key not in other.blocks})
        tuples = {key: dict(c) for key, c in self.tuples.items()}
        for key, c in other.tuples.items():
            mine = tuples.setdefault(key, {})
            for tup, n in c.items():
                mine[tup] = mine.get(tup, 0) + n
        rows = {name: self.rows.get(name, 0) + other.rows.get(name, 0) for name in {*self.rows, *other.rows}}
        return CoverageCounts(blocks, tuples, rows)
