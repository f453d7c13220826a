"""Coverage of declared combinations: every tuple of a combination the spec names (``scramble.coverage
.combinations``) that the input shows reaches k in the output's same table block, as far as the rules allow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scrambler.panel import Panel
from scrambler.sampling import Sampler
from scrambler.scramble.capacity import Floors, Target, floors_by_block, table_rows
from scrambler.scramble.gaps import Gap
from scrambler.scramble.moves import (
    cover_whole_persons,
    direct,
    redraw,
    rules_for,
    sample_rows,
    spare_rows,
    tuple_keys,
)
from scrambler.scramble.nearness import count_keys
from scrambler.spec.model import DatasetSpec

ComboKey = tuple[str, str, tuple[str, ...]]  # (table, block suffix, variables)
# Whole-person redraws cost a draw of every period per person: on a 36-quarter panel whose blocks hold fewer job
# rows than sectors x k, 827 of them for the sector brought it to no one (100 s of a 600-person run). After
# this many fruitless ones in a row a variable's categories (or a combination's tuples) get no more in this
# coverage call; the gaps say what stays short.
WHOLE_PERSON_STRIKES = 3


def combination_counts(panel: Panel, combos: tuple[tuple[str, ...], ...]) -> dict[ComboKey, dict[tuple[int, ...], int]]:
    """Counts of each non-null tuple of every declared combination, per table block showing all its
    variables; tuples are counted as mixed-radix integers (see :func:`count_keys`)."""
    spec = panel.spec
    index = {p: i for i, p in enumerate(panel.periods)}
    out: dict[ComboKey, dict[tuple[int, ...], int]] = {}
    # tables of the same period share their rows: each (combination, period, block period) counted once
    done: dict[tuple[tuple[str, ...], int, int], dict[tuple[int, ...], int]] = {}
    for name, table, period in spec.table_names():
        t0 = index[period]
        rows = panel.present[t0]
        for block in table.blocks:
            for combo in combos:
                if not all(v in block.variables for v in combo):
                    continue
                t = t0 + block.offset
                if (combo, t0, t) not in done:
                    key, valid, sizes = tuple_keys(panel, combo, t)
                    keys, counts = count_keys(key[rows & valid], sizes)
                    done[(combo, t0, t)] = {_unpack(int(k), sizes): int(c) for k, c in zip(keys, counts, strict=True)}
                out[(name, block.suffix, combo)] = dict(done[(combo, t0, t)])
    return out


def combo_targets(wanted: dict[ComboKey, dict[tuple[int, ...], int]], rows: dict[str, int], k: int
                  ) -> dict[ComboKey, Target]:
    """Per declared combination and table block: k, or the block's share of its rows when the input shows
    more tuples than the block can hold k times (:mod:`capacity`)."""
    return {key: Target(k, len(tuples), rows.get(key[0], 0)) for key, tuples in wanted.items()}


def _pack(tup: tuple[int, ...], sizes: list[int]) -> int:
    key = 0
    for digit, size in zip(tup, sizes, strict=True):
        key = key * size + digit
    return key


def _unpack(key: int, sizes: list[int]) -> tuple[int, ...]:
    digits = []
    for size in reversed(sizes):
        key, digit = divmod(key, size)
        digits.append(digit)
    return tuple(reversed(digits))


def ensure_combinations(source: Panel, out: Panel, sampler: Sampler, rng: np.random.Generator, k: int,
                        passes: int = 3, wanted: dict[ComboKey, dict[tuple[int, ...], int]] | None = None,
                        floors: Floors | None = None,
                        scarce: Callable[[], np.ndarray] | None = None) -> None:
    """Every tuple of a declared combination that the input shows reaches k in the output's same table block,
    as far as the constraints allow. Tuples of statics only: the last static (in draw order) is set where
    every rule at every period allows it; otherwise person-periods are redrawn around the tuple, its earlier
    variables borrowed from input person-periods that hold it. Either way only rows whose current values
    (and tuples) have plenty to spare are used. ``floors``: per table block, the target of each variable and
    combination (k, or a smaller share where the block cannot hold k of each: :mod:`capacity`). ``scarce``:
    the person-periods (periods, persons) holding a category their block cannot lend (``cover.scarce_rows``),
    asked once, when there is something to cover: a redraw takes them last."""
    spec = out.spec
    combos = spec.scramble.coverage_combinations
    if not combos:
        return
    index = {p: i for i, p in enumerate(out.periods)}
    tables = {name: (table, period) for name, table, period in spec.table_names()}
    wanted = combination_counts(source, combos) if wanted is None else wanted
    if floors is None:
        floors = floors_by_block(combo_targets(wanted, table_rows(out), k))
    position = {n: i for i, n in enumerate(sampler.order)}
    failures: dict[tuple[str, ...], int] = {}  # fruitless whole-person redraws in a row, per combination
    keep_off: np.ndarray | None = None
    for _ in range(passes):
        have = combination_counts(out, combos)
        todo: dict[ComboKey, list[tuple[int, ...]]] = {}
        for key, tuples in wanted.items():
            target = floors.get(key[:2], {}).get(key[2], k)
            for tup in tuples:
                if have.get(key, {}).get(tup, 0) < target:
                    todo.setdefault(key, []).append(tup)
        if not todo:
            break
        if keep_off is None:  # once: a preference order, which a later pass may use as it stands
            keep_off = scarce() if scarce is not None else np.zeros(out.present.shape, dtype=bool)
            keep_off_persons = keep_off.any(axis=0)  # for whole-person redraws
        for (table_name, suffix, combo), short in todo.items():
            table, period = tables[table_name]
            block = next(b for b in table.blocks if b.suffix == suffix)
            t0 = index[period]
            t = t0 + block.offset
            period_vars = [v for v in combo if not spec.variables[v].is_static]
            last = max(period_vars or combo, key=position.__getitem__)
            floor = floors.get((table_name, suffix), {})
            target = floor.get(combo, k)
            if period_vars:
                _cover_periodic(source, out, sampler, rng, k, combos, block.variables, t0, t, combo, last,
                                period_vars, short, floor, keep_off[t])
                continue
            for tup in short:
                # an earlier tuple may have been covered too (a person redrawn whole shows its statics in
                # every period): count again rather than overshoot (1,089 redundant whole-person redraws on a
                # 600-person 36-quarter panel)
                held, valid, sizes = tuple_keys(out, combo, t)
                need = target - int((out.present[t0] & valid & (held == _pack(tup, sizes))).sum())
                if need <= 0:
                    continue
                values = dict(zip(combo, tup, strict=True))
                rows = out.present[t0] & out.present[t] & (out.static[last] != values[last])
                for v in combo:
                    if v != last:
                        rows &= out.static[v] == values[v]  # statics stay: pick persons that already hold them
                candidates = spare_rows(out, t0, t, block.variables, [last], k, combos,
                                        sample_rows(rows, 800 * need, rng), floor)
                # set the last static where every rule at every period allows it, else redraw whole persons
                # around the tuple
                done = direct(out, sampler, last, values[last], t, candidates[: 200 * need], need,
                              *rules_for(sampler, last))
                if done < need and failures.get(combo, 0) < WHOLE_PERSON_STRIKES:
                    took = cover_whole_persons(out, sampler, rng, t0, t, block.variables, values, need - done, k,
                                               combos, source, floor, avoid=keep_off_persons)
                    failures[combo] = 0 if took else failures.get(combo, 0) + 1


def _cover_periodic(source: Panel, out: Panel, sampler: Sampler, rng: np.random.Generator, k: int,
                    combos: tuple[tuple[str, ...], ...], shown: tuple[str, ...], t0: int, t: int,
                    combo: tuple[str, ...], last: str, period_vars: list[str], tuples: list[tuple[int, ...]],
                    floor: dict[str | tuple[str, ...], int], held: np.ndarray) -> None:
    """The short tuples of a combination with periodic variables in one table block: person-periods are
    redrawn around each tuple, its variables drawn before ``last`` borrowed from input person-periods that hold
    it, all tuples in one draw (see :func:`redraw`). Candidates come round-robin from each tuple's rows and are
    budgeted together, so that two tuples never both spend the same value's spare rows. ``held``: the persons
    whose values at t other categories need (taken last)."""
    if not tuples:
        return
    per_tuple: list[tuple[tuple[int, ...], np.ndarray, np.ndarray]] = []
    needs: list[int] = []
    key, valid, sizes = tuple_keys(out, combo, t)
    # counted and grouped once for all the tuples (per tuple, a pass over every output row and every input
    # row was 1.3 s of coverage at 200,000 persons): the output's count of each tuple, and the input rows
    # holding it, in row order (a stable sort of the keys)
    held_keys, held_counts = count_keys(key[out.present[t0] & valid], sizes)
    src_key, src_valid, _ = tuple_keys(source, combo, t)
    # the input rows holding one of these tuples, in row order within each (the templates): only the matching
    # rows are sorted, not every input row (a stable sort of every present input person-period per
    # combination was 5.5 s of a 7.5 million-person input's coverage)
    wanted = np.unique(np.array([_pack(tup, sizes) for tup in tuples], dtype=src_key.dtype))
    nearest = np.minimum(np.searchsorted(wanted, src_key), len(wanted) - 1)
    src_rows = np.nonzero(source.present[t] & src_valid & (wanted[nearest] == src_key))[0]
    src_rows = src_rows[np.argsort(src_key[src_rows], kind="stable")]
    src_sorted = src_key[src_rows]
    both = out.present[t0] & out.present[t]
    statics = [v for v in combo if out.spec.variables[v].is_static]
    # the output does not change until the redraw below: every spare_rows here shares one count of it (a
    # count of the whole output per tuple was 0.6 s of coverage at 200,000 persons)
    memo: dict[tuple[object, ...], Any] = {}
    for tup in tuples:
        packed = _pack(tup, sizes)
        at = int(np.searchsorted(held_keys, packed))
        have = int(held_counts[at]) if at < len(held_keys) and held_keys[at] == packed else 0
        need = floor.get(combo, k) - have
        values = dict(zip(combo, tup, strict=True))
        templates = src_rows[np.searchsorted(src_sorted, packed, "left"):np.searchsorted(src_sorted, packed, "right")]
        if need <= 0 or len(templates) == 0:
            continue
        rows = both
        for v in statics:
            rows = rows & (out.static[v] == values[v])  # statics stay: pick persons that already hold them
        candidates = sample_rows(rows, 800 * need, rng)
        candidates = candidates[np.argsort(held[candidates], kind="stable")]  # free rows first
        candidates = spare_rows(out, t0, t, shown, period_vars, k, combos, candidates, floor, memo)[: 20 * need]
        if len(candidates):
            per_tuple.append((tup, candidates, templates))
            needs.append(need)
    if not per_tuple:
        return
    # round-robin: the first candidates of every tuple before the second ones, then the first occurrence of a row
    tuple_of = np.concatenate([np.full(len(c), i) for i, (_, c, _) in enumerate(per_tuple)])
    rank = np.concatenate([np.arange(len(c)) for _, c, _ in per_tuple])
    rows = np.concatenate([c for _, c, _ in per_tuple])
    order = np.lexsort((tuple_of, rank))
    rows, tuple_of = rows[order], tuple_of[order]
    _, first = np.unique(rows, return_index=True)
    first = np.sort(first)
    rows, tuple_of = rows[first], tuple_of[first]
    keep = np.isin(rows, spare_rows(out, t0, t, shown, period_vars, k, combos, rows, floor, memo))
    rows, tuple_of = rows[keep], tuple_of[keep]
    if len(rows) == 0:
        return
    chosen = np.empty(len(rows), dtype=np.int64)
    codes = {v: np.empty(len(rows), dtype=np.int64) for v in combo}
    for i, (tup, _, templates) in enumerate(per_tuple):
        mine = tuple_of == i
        chosen[mine] = templates[rng.integers(0, len(templates), size=int(mine.sum()))]
        for v, c in zip(combo, tup, strict=True):
            codes[v][mine] = c
    redraw(out, sampler, rng, last, codes[last], t, rows, np.asarray(needs), source=source, templates=chosen,
           require={v: c for v, c in codes.items() if v != last}, groups=tuple_of)


def tuple_gaps(spec: DatasetSpec, wanted: dict[ComboKey, dict[tuple[int, ...], int]],
               have: dict[ComboKey, dict[tuple[int, ...], int]], k: int) -> list[tuple[ComboKey, Gap]]:
    """The tuple gaps from tuple counts: the input's (``wanted``) and the output's (``have``), each with the
    combination and block it belongs to."""
    gaps = []
    for key, tuples in wanted.items():
        table_name, suffix, combo = key
        for tup in tuples:
            got = have.get(key, {}).get(tup, 0)
            if got < k:
                code = "×".join(spec.variables[v].codes[c] for v, c in zip(combo, tup, strict=True))
                gaps.append((key, Gap(table_name, suffix, "×".join(combo), code, k, got)))
    return gaps
