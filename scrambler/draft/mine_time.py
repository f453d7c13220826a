"""Rules across time, mined between consecutive filled observations of a person (the checker's reading):
constant, step (an ordinal that never decreases, or moves a bounded number of codes per period), absorbing
states and transitions that never happened although chance would have produced some."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from scrambler.draft.rules import Context, DraftRule, slug, value
from scrambler.draft.variables import DraftVariable


def mine_time(ctx: Context) -> list[DraftRule]:
    out: list[DraftRule] = []
    for var in ctx.variables.values():
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
