"""Rules across time, mined between consecutive filled observations of a person (the checker's reading):
constant, step (an ordinal that never decreases, or moves a bounded number of codes per period; a number that
never decreases, or never increases, by at most what was seen per period), absorbing states and transitions that
never happened although chance would have produced some."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from scrambler.draft.rules import Context, DraftRule, slug, value
from scrambler.draft.variables import DraftVariable, nice

NUMBER_STEP_TYPES = ("integer", "decimal", "year")


def mine_time(ctx: Context) -> list[DraftRule]:
    out: list[DraftRule] = []
    for var in ctx.variables.values():
        if var.timing == "period" and var.number is not None and var.type in NUMBER_STEP_TYPES:
            out += _number_step(ctx, var)
        if var.timing != "period" or var.code is None or var.type == "identifier":
            continue
        rows = np.nonzero(var.observed & (var.code >= 0))[0]
        same = ctx.pid[rows][1:] == ctx.pid[rows][:-1]
        first, second = rows[:-1][same], rows[1:][same]
        if not len(first):
            continue
        prev, cur = var.code[first], var.code[second]
        gap = ctx.period[second] - ctx.period[first]
        persons = ctx.count_persons(np.zeros(len(first), dtype=np.int64), first, 1)[0]
        if persons < ctx.k:
            continue
        changed = prev != cur
        if not changed.any():
            if len(np.unique(prev)) >= 2:
                out.append(DraftRule(
                    id=slug(var.name, "constant"), kind="constant", variables=(var.name,),
                    reason=f"Observed: {var.name} kept its value in all {len(prev)} consecutive observations of "
                           f"{persons} persons (it is sometimes missing, so it is not static); held in every case.",
                    body={"variable": var.name}))
            continue
        stepped = _step(ctx, var, prev, cur, gap, persons) if var.type == "ordinal" else []
        # a step rule already bounds where an ordinal can go next: transitions would repeat it code by code
        out += stepped or _states(ctx, var, prev, cur, first)
    return out


def _step(ctx: Context, var: DraftVariable, prev: np.ndarray, cur: np.ndarray, gap: np.ndarray,
          persons: int) -> list[DraftRule]:
    ratio = (cur - prev) / np.maximum(gap, 1)
    lo, hi = math.floor(ratio.min()), math.ceil(ratio.max())
    moves = int((cur != prev).sum())
    if (lo < 0 < hi) or moves < ctx.evidence:
        return []
    what = "never decreased" if lo >= 0 else "never increased"
    # the rule keeps the direction and the largest move, not a forced move: a step with min = max = 1 fixes a
    # person's whole path from the first value, which a scramble that redraws periods cannot meet
    low, high = (0, hi) if lo >= 0 else (lo, 0)
    return [DraftRule(
        id=slug(var.name, "step"), kind="step", variables=(var.name,),
        reason=f"Observed: {var.name} {what}, moving {lo}..{hi} codes per period over {len(prev)} consecutive "
               f"observations of {persons} persons ({moves} moves); held in every case.",
        body={"variable": var.name, "min": low, "max": high})]


def _number_step(ctx: Context, var: DraftVariable) -> list[DraftRule]:
    """A number that never decreased (total experience, age) or never increased between a person's consecutive
    filled observations: a `step` with min 0 and the largest change per period seen, rounded outward."""
    assert var.number is not None
    rows = np.nonzero(var.observed & ~np.isnan(var.number))[0]
    same = ctx.pid[rows][1:] == ctx.pid[rows][:-1]
    first, second = rows[:-1][same], rows[1:][same]
    if not len(first):
        return []
    delta = var.number[second] - var.number[first]
    gap = np.maximum(ctx.period[second] - ctx.period[first], 1)
    ratio = delta / gap
    rising = bool((delta >= -1e-9).all())
    if not rising and not (delta <= 1e-9).all():
        return []
    moved = ctx.count_persons(np.zeros(int((delta != 0).sum()), dtype=np.int64), first[delta != 0], 1)[0]
    # under chance (values shuffled within the variable) about half of the moves would go the other way
    expected = moved / 2
    if moved < ctx.k or expected < ctx.evidence:
        return []
    largest = float(np.abs(ratio).max())
    bound = math.ceil(largest) if var.type != "decimal" else nice(largest, up=True)
    if bound == 0:
        return []
    low, high = (0, bound) if rising else (-bound, 0)
    persons = ctx.count_persons(np.zeros(len(first), dtype=np.int64), first, 1)[0]
    what = "never decreased" if rising else "never increased"
    return [DraftRule(
        id=slug(var.name, "step"), kind="step", variables=(var.name,),
        reason=f"Observed: {var.name} {what}, changing by at most {largest:g} per period over {len(first)} "
               f"consecutive observations of {persons} persons ({moved} persons changed); held in every case.",
        body={"variable": var.name, "min": low, "max": high})]


def _states(ctx: Context, var: DraftVariable, prev: np.ndarray, cur: np.ndarray, first: np.ndarray
            ) -> list[DraftRule]:
    codes = var.codes or []
    n = len(codes)
    table = np.bincount(prev * n + cur, minlength=n * n).reshape(n, n)
    persons = ctx.count_persons(prev, first, n)
    change_share = float((prev != cur).mean())
    seen_next = table.sum(axis=0) > 0
    out = []
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for a in range(n):
        if persons[a] < ctx.k:
            continue
        leaving = table[a].sum() - table[a, a]
        if leaving == 0:
            expected = persons[a] * change_share  # in persons: a person's observations are not independent
            if expected >= ctx.evidence:
                out.append(DraftRule(
                    id=slug(var.name, codes[a], "absorbing"), kind="absorbing", variables=(var.name,),
                    reason=f"Observed: {persons[a]} persons with {var.name} {codes[a]} kept it in all "
                           f"{int(table[a].sum())} later observations; {expected:.0f} persons changing were expected by "
                           "chance; held in every case.",
                    body={"variable": var.name, "values": [value(var, codes[a])]}))
            continue
        excluded = tuple(int(j) for j in np.nonzero(seen_next & (table[a] == 0))[0])
        if excluded:
            groups[excluded].append(a)
    share = table.sum(axis=0) / table.sum()
    for excluded, premise in groups.items():
        n_from = int(table[premise].sum())
        expected = int(persons[premise].sum()) * float(share[list(excluded)].sum())
        if expected < ctx.evidence:
            continue
        out.append(DraftRule(
            id=slug(var.name, "after", *(codes[a] for a in premise[:3])), kind="transition", variables=(var.name,),
            reason=f"Observed: after {var.name} in {', '.join(codes[a] for a in premise)} "
                   f"({int(persons[premise].sum())} persons, {n_from} next observations) the next value never was "
                   f"{', '.join(codes[j] for j in excluded)}; {expected:.0f} persons were expected to by chance; held in every "
                   "case.",
            body={"variable": var.name, "if_previous": {"in": [value(var, codes[a]) for a in premise]},
                  "then": {"not_in": [value(var, codes[j]) for j in excluded]}}))
    return out
