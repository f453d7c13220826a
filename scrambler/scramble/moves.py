"""Changing values of the output under the rules: a direct move of one category into person-periods that
allow it as they stand, a redraw of the person-period around a category, and the rows whose current values can
be given up without dropping a category or a declared combination of their table block below a floor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.panel import Panel, null_of
from scrambler.sampling import Sampler
from scrambler.sampling.rules import neighbour_sets
from scrambler.scramble import nearness


def touch(out: Panel, rows: np.ndarray) -> None:
    """Record that these persons' values are being rewritten (see ``Panel.touched``)."""
    if out.touched is not None:
        out.touched[rows] = True


def rules_for(sampler: Sampler, name: str) -> tuple[list[CompiledRule], list[CompiledRule]]:
    """Every row rule naming the variable (whatever the draw order), and its temporal rules."""
    return [r for r in sampler.rules if name in r.variables and not r.temporal], sampler.variable_rules[name].temporal


def sample_rows(mask: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``size`` of the rows where ``mask`` holds, in random order. Coverage asks for a handful of rows
    at a time: permuting (and budgeting) all 7 million rows for each of hundreds of categories cost more than
    a second per category at full scale."""
    rows = np.nonzero(mask)[0]
    if len(rows) <= size:
        return rng.permutation(rows)
    return rows[rng.choice(len(rows), size=size, replace=False)]


def tuple_keys(panel: Panel, combo: tuple[str, ...], t: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Each person's tuple of ``combo`` at t as one mixed-radix integer over the code list sizes, whether it
    is complete (no null), and the sizes."""
    sizes = [len(panel.spec.variables[v].codes) for v in combo]
    key = np.zeros(panel.n, dtype=np.int64)
    valid = np.ones(panel.n, dtype=bool)
    for v, size in zip(combo, sizes, strict=True):
        values = panel.values(v, t)
        valid &= values >= 0
        key = key * size + np.maximum(values, 0)
    return key, valid, sizes


def spare_rows(out: Panel, t0: int, t: int, shown: tuple[str, ...], changed: list[str], k: int,
               combos: tuple[tuple[str, ...], ...], candidates: np.ndarray,
               floors: Mapping[str | tuple[str, ...], int] | None = None,
               memo: dict[tuple[object, ...], Any] | None = None) -> np.ndarray:
    """The ``candidates`` (row indices, in order of preference) whose current values of ``changed`` at t may
    be given up: taking every row returned still leaves each value, and each declared combination of the
    table block (rows present at t0, variables ``shown``) that contains one of them, at k or more where it
    was. Coverage must never be zero-sum between two rare categories or tuples of the same block; a value
    held by c rows lends at most c - k of them, in candidate order. A static shows in every table its person
    is in: its c is the smallest over the tables' periods where it occurs. ``floors``: a lower k for a variable
    or combination of this block that cannot hold all its categories k times (``capacity.Target.ask``).
    ``memo``: a dict the caller keeps while the output does not change (several candidate sets asked in a
    row): the whole-output counts are made once for all of them."""
    spec = out.spec
    floors = floors or {}
    keep = np.ones(len(candidates), dtype=bool)
    index = {p: i for i, p in enumerate(spec.panel.periods)}
    table_periods = sorted({index[p] for _, _, p in spec.table_names()})
    memo = {} if memo is None else memo
    for name in changed:
        var = spec.variables[name]
        if var.is_categorical:
            periods = table_periods if var.is_static else [t0]
            if (name, t, t0) not in memo:
                key = out.values(name, t).astype(np.int64)
                memo[(name, t, t0)] = key, _counts(out, key, key >= 0, [len(var.codes)], periods)
            key, counted = memo[(name, t, t0)]
            held = _held(key, candidates, counted)
            keep &= _within_budget(key[candidates], key[candidates] >= 0, held - floors.get(name, k))
    for combo in combos:
        if not set(combo) & set(changed) or not all(v in shown for v in combo):
            continue
        if (combo, t, t0) not in memo:
            key, valid, sizes = tuple_keys(out, combo, t)
            periods = table_periods if all(spec.variables[v].is_static for v in combo) else [t0]
            memo[(combo, t, t0)] = key, valid, _counts(out, key, valid, sizes, periods)
        key, valid, counted = memo[(combo, t, t0)]
        held = _held(key, candidates, counted)
        keep &= _within_budget(key[candidates], valid[candidates], held - floors.get(combo, k))
    return candidates[keep]


def _counts(out: Panel, key: np.ndarray, valid: np.ndarray, sizes: list[int], periods: list[int]
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per period of ``periods``, the distinct keys of the rows present there and their counts."""
    return [nearness.count_keys(key[out.present[p] & valid], sizes) for p in periods]


def _held(key: np.ndarray, candidates: np.ndarray, counted: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """For each candidate, how many persons share its key, the smallest over the periods ``counted`` (rows
    present there) where the key occurs at all."""
    held = np.full(len(candidates), np.iinfo(np.int64).max, dtype=np.int64)
    mine = key[candidates]
    for keys, counts in counted:
        if not len(keys):
            continue
        pos = nearness.positions(keys, mine)
        found = keys[pos] == mine
        held = np.where(found, np.minimum(held, counts[pos]), held)
    return np.where(held == np.iinfo(np.int64).max, 0, held)


def _within_budget(key: np.ndarray, limited: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """True for the first ``budget`` rows of each key (in the given order); rows not ``limited`` are free."""
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    rank = np.empty(len(key), dtype=np.int64)
    rank[order] = np.arange(len(key)) - np.searchsorted(sorted_key, sorted_key, side="left")
    return ~limited | (rank < budget)


def valid_with(out: Panel, name: str, code: int, t: int, rows: np.ndarray, row_rules: list[CompiledRule],
               temporal: list[CompiledRule], sampler: Sampler) -> np.ndarray:
    var = out.spec.variables[name]
    ok = np.ones(len(rows), dtype=bool)
    periods = range(len(out.periods)) if var.is_static else [t]
    for s in periods:
        live = out.present[s, rows] if var.is_static else np.ones(len(rows), dtype=bool)
        frame = out.frame(s, rows).with_value(name, np.full(len(rows), code, dtype=np.int16))
        for rule in row_rules:
            ok &= ~live | rule.is_valid(frame)
    if temporal and not var.is_static:
        cand = np.full(len(rows), code, dtype=np.int16)
        for (prev, pgap), (nxt, ngap) in neighbour_sets(out, name, t, rows):
            for rule in temporal:
                ok &= rule.pair_valid(prev, cand, pgap) & rule.pair_valid(cand, nxt, ngap)
    ok &= bool(sampler.variable_rules[name].domain.codes_mask[code])  # type: ignore[index]
    return ok


def direct(out: Panel, sampler: Sampler, name: str, code: int, t: int, rows: np.ndarray, need: int,
           row_rules: list[CompiledRule], temporal: list[CompiledRule]) -> int:
    ok = valid_with(out, name, code, t, rows, row_rules, temporal, sampler)
    chosen = rows[ok][:need]
    touch(out, chosen)
    if name in out.static:
        out.static[name][chosen] = code
    else:
        out.periodic[name][t, chosen] = code
    return len(chosen)


def redraw(out: Panel, sampler: Sampler, rng: np.random.Generator, name: str, code: int | np.ndarray, t: int,
           rows: np.ndarray, need: int | np.ndarray, source: Panel | None = None, templates: np.ndarray | None = None,
           require: Mapping[str, int | np.ndarray] | None = None, groups: np.ndarray | None = None) -> int:
    """Set ``name`` = code on ``rows`` at t and redraw the person-period around it. With ``templates`` (input
    person-periods that hold the code), the variables drawn before ``name`` are proposed from them: the
    context the category needs. Later variables keep their current values where still allowed.

    Several categories (or tuples) at once: ``code`` and the ``require``d values per row, ``groups`` the
    category of each row and ``need`` per group; rows must be distinct. Persons are independent within a
    period, so one draw serves them all: a monthly panel's declared tuples cost one draw per table period
    instead of one per tuple (a 154-month panel: 11,000 draws of a few rows each, most of a scramble's time). Rows that
    end without their values, or dead, are put back; the others keep at most ``need`` per group. Returns how
    many rows took their values."""
    if len(rows) == 0:
        return 0
    groups = np.zeros(len(rows), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    needs = np.atleast_1d(np.asarray(need, dtype=np.int64))
    codes = np.broadcast_to(np.asarray(code, dtype=np.int16), rows.shape)
    touch(out, rows)
    order = np.argsort(rows)
    rows, groups, codes = rows[order], groups[order], codes[order]
    wanted = {v: np.broadcast_to(np.asarray(c), order.shape)[order] for v, c in (require or {}).items()}
    saved = {n: v[t, rows].copy() for n, v in out.periodic.items()}
    before = set(sampler.order[:sampler.order.index(name)])
    borrowed: dict[str, np.ndarray] = {}
    if source is not None and templates is not None:
        templates = templates[order]
        borrowed = {n: source.periodic[n][t, templates] for n in before if n in source.periodic}

    def keep_current(var: str, tt: int, sub: np.ndarray, frame: object, rng: object) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(rows, sub)
        if var == name:
            return codes[pos], np.ones(len(sub), dtype=bool)
        if var in out.static:
            values = out.static[var][sub]
        elif var in borrowed:
            values = borrowed[var][pos]
        else:
            values = saved[var][pos]
        return values, np.ones(len(sub), dtype=bool)

    dead: list[np.ndarray] = []
    sampler.draw_period(out, t, rng, rows=rows, proposals=keep_current, first=np.zeros(len(rows), dtype=bool),
                        on_dead=dead.append)
    got = out.periodic[name][t, rows] == codes
    for other, values in wanted.items():
        got &= out.values(other, t)[rows] == values
    if dead:  # a dead row is put back, never half-applied
        got &= ~np.isin(rows, np.concatenate(dead))
    took = np.nonzero(got)[0]
    keep = took[_within_budget(groups[took], np.ones(len(took), dtype=bool), needs[groups[took]])]
    revert = np.setdiff1d(np.arange(len(rows)), keep)
    for n, v in saved.items():
        out.periodic[n][t, rows[revert]] = v[revert]
    return len(keep)


def redraw_persons(out: Panel, sampler: Sampler, rng: np.random.Generator, rows: np.ndarray,
                   fixed: dict[str, int], source: Panel, templates: np.ndarray, t: int = 0,
                   keep: int | None = None, own_statics: bool = False) -> np.ndarray:
    """Give ``rows`` the values ``fixed`` (statics, or periodic values wanted at period t: proposed at every
    period, which rules across time such as "constant" or "only towards X" accept) by redrawing their whole
    trajectory: every period is drawn again, ``fixed`` proposed as is, the other statics proposed from a
    template input person (``templates``, one per row, holding ``fixed``) and the periodic values from the row
    itself: they are kept wherever the new statics allow them, so the categories already covered stay. A
    static that other statics depend on (a measure that brings its own block of details) cannot be moved
    alone; the template brings a context in which it is valid. Rows that do not end with ``fixed`` are put
    back exactly, and so are those past the first ``keep`` that took it. ``own_statics``: propose each row's
    own statics instead of the template's (a template's death month or birth month may not fit the row's
    presence, and a rare value may have a single template). Returns the rows that took it."""
    if len(rows) == 0:
        return rows
    touch(out, rows)
    order = np.argsort(rows)
    rows, templates = rows[order], templates[order]
    saved_static = {n: v[rows].copy() for n, v in out.static.items()}
    saved_periodic = {n: v[:, rows].copy() for n, v in out.periodic.items()}
    # the old trajectory is only proposed, never binding: left in place, its later periods would veto the new
    # values through rules across time (step, transition) before they are redrawn themselves
    for v in [*out.static.values(), *out.periodic.values()]:
        v[..., rows] = null_of(v)

    # a fixed periodic value is proposed at every period only when a rule across time ties its periods
    # (constant, only towards X): proposed everywhere otherwise, it replaced the person's values of other
    # periods, which other coverage items then had to win back (on a 36-quarter panel, round after round)
    everywhere = {v for v in fixed if v in out.static or sampler.variable_rules[v].temporal}

    def propose(var: str, tt: int, sub: np.ndarray, frame: object, rng: object) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(rows, sub)
        if var in fixed and (tt == t or var in everywhere):
            return np.full(len(sub), fixed[var], dtype=np.int16), np.ones(len(sub), dtype=bool)
        if var in source.static:
            own = saved_static[var][pos] if own_statics else source.static[var][templates[pos]]
            return own, np.ones(len(sub), dtype=bool)
        return saved_periodic[var][tt, pos], np.ones(len(sub), dtype=bool)

    failed: list[np.ndarray] = []
    for s in range(len(out.periods)):
        live = rows[out.present[:s + 1, rows].any(axis=0)]
        if len(live):
            sampler.draw_period(out, s, rng, rows=live, proposals=propose, on_dead=failed.append)
    took = np.ones(len(rows), dtype=bool)
    for var, code in fixed.items():
        took &= out.values(var, t)[rows] == code
    if failed:
        took &= ~np.isin(rows, np.concatenate(failed))
    if keep is not None:
        took[np.nonzero(took)[0][keep:]] = False
    back = ~took
    for n, v in saved_static.items():
        out.static[n][rows[back]] = v[back]
    for n, v in saved_periodic.items():
        out.periodic[n][:, rows[back]] = v[:, back]
    return rows[took]


def cover_whole_persons(out: Panel, sampler: Sampler, rng: np.random.Generator, t0: int, t: int,
                        shown: tuple[str, ...], fixed: dict[str, int], need: int, k: int,
                        combos: tuple[tuple[str, ...], ...], source: Panel,
                        floors: Mapping[str | tuple[str, ...], int] | None = None,
                        avoid: np.ndarray | None = None) -> int:
    """Bring the values ``fixed`` (statics, or periodic values that rules across time tie to the rest of the
    trajectory) to ``need`` more persons of a table block by whole-person redraws (:func:`redraw_persons`),
    taking persons whose current values can spare them, those present in the most periods first (a static
    shows in every table the person is in), those ``avoid`` marks last. Returns how many took the values."""
    holds = np.logical_and.reduce([out.values(v, t) == c for v, c in fixed.items()])
    candidates = sample_rows(out.present[t0] & out.present[t] & ~holds, 50 * need + 100, rng)
    rank = -out.present[:, candidates].sum(axis=0)
    if avoid is not None:  # persons holding what other categories need (``cover.scarce_rows``) come last
        rank = np.where(avoid[candidates], rank + out.present.shape[0] + 1, rank)
    candidates = candidates[np.argsort(rank, kind="stable")]
    candidates = spare_rows(out, t0, t, shown, list(fixed), k, combos, candidates, floors)
    if all(v in source.static for v in fixed):
        has = np.logical_and.reduce([source.static[v] == c for v, c in fixed.items()])
    else:  # input persons showing the values at t, else at any period
        has = source.present[t] & np.logical_and.reduce([source.values(v, t) == c for v, c in fixed.items()])
        if not has.any():
            has = np.logical_and.reduce([(source.periodic[v] == c).any(axis=0) if v in source.periodic
                                         else source.static[v] == c for v, c in fixed.items()])
    templates = np.nonzero(has)[0]
    fresh = len(templates) == 0 and len(fixed) == 1
    if fresh:  # no input person shows it: drawn first, each person's own values proposed around it
        sampler = sampler.leading(next(iter(fixed)))
    done = 0
    for round_ in range(6):  # a few batches: many redraws fail (a rare value along a whole trajectory under rules
        # across time), so each tries more persons than missing, but only what is missing is kept: every
        # person who takes a value across time shows it in every period, more would overshoot
        batch = candidates[: 5 * (need - done) + 5]
        candidates = candidates[len(batch):]
        if len(batch) == 0 or (len(templates) == 0 and not fresh):
            break
        chosen = batch if fresh else templates[rng.integers(0, len(templates), size=len(batch))]
        took = redraw_persons(out, sampler, rng, batch, fixed, source, chosen, t, keep=need - done,
                              own_statics=fresh or (round_ % 2 == 1 and not any(v in source.static for v in fixed)))
        done += len(took)
        if done >= need:
            break
    return done
