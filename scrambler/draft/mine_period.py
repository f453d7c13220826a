"""Relations within a period, mined from the present rows: mappings, allowed combinations, implications and
comparisons between numbers (and against the period). A rule is kept only when it held in every row where
its variables are shown, every premise or allowed tuple stands for at least k persons, and chance alone
would have produced at least ``evidence`` violations (so a small table does not yield a flood of rules that
merely reflect what a few hundred rows happened not to contain)."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from scrambler.draft.rules import Context, DraftRule, describe, premise_for, slug, test_for, value
from scrambler.draft.variables import TIME_GRAIN, DraftVariable
from scrambler.spec.time import to_months, to_quarters

MAX_TUPLES = 200  # a combinations rule lists at most this many allowed tuples
NUMERIC_FAMILIES = ({"integer", "decimal"}, set(TIME_GRAIN))


def _codes(var: DraftVariable) -> tuple[np.ndarray, int]:
    """Code index per present row (null -> the last index) and the number of indices."""
    if var.code is not None:
        n = len(var.codes or [])
        return np.where(var.code < 0, n, var.code), n + 1
    assert var.number is not None
    return np.where(np.isnan(var.number), 1, 0), 2  # numbers: 0 = filled, 1 = null


def _index(code: int, size: int) -> int:
    return -1 if code == size - 1 else code


def mine_period(ctx: Context) -> list[DraftRule]:
    pool = [v for v in ctx.variables.values() if v.code is not None or not v.required]
    rules: list[DraftRule] = []
    for a, b in combinations(pool, 2):
        both = a.observed & b.observed
        if not both.any():
            continue
        rows = np.nonzero(both)[0]
        xa, na = _codes(a)
        xb, nb = _codes(b)
        x, y = xa[rows], xb[rows]
        table = np.bincount(x * nb + y, minlength=na * nb).reshape(na, nb)
        found: list[DraftRule] = []
        if a.categorical and b.categorical:
            found = _mapping(ctx, a, b, table, x, rows) or _mapping(ctx, b, a, table.T, y, rows) \
                or _combinations(ctx, a, b, table, x * nb + y, rows)
        if not found:
            found = _implications(ctx, a, b, table, x, y, rows) + _implications(ctx, b, a, table.T, y, x, rows)
        rules += found
    rules += _compares(ctx)
    return rules


def _support(ctx: Context, table: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return ctx.count_persons(keys, rows, table.shape[0])


def _mapping(ctx: Context, a: DraftVariable, b: DraftVariable, table: np.ndarray, x: np.ndarray,
             rows: np.ndarray) -> list[DraftRule]:
    """a determines b: every code of a held by k persons meets one value of b (null included)."""
    persons = _support(ctx, table, x, rows)
    na = table.shape[0]
    kept = [i for i in range(na - 1) if persons[i] >= ctx.k]
    if len(kept) < 2 or any((table[i] > 0).sum() != 1 for i in kept):
        return []
    targets = {int(np.argmax(table[i])) for i in kept}
    if len(targets) < 2:
        return []
    nb = table.shape[1]
    bcodes = b.codes or []
    pairs = [[(a.codes or [])[i], "" if int(np.argmax(table[i])) == nb - 1 else bcodes[int(np.argmax(table[i]))]]
             for i in kept]
    path = f"relations/{slug(a.name, 'to', b.name)}.csv"
    n_rows = int(table[kept].sum())
    return [DraftRule(
        id=slug(a.name, "determines", b.name), kind="mapping",
        reason=f"Observed: each of {len(kept)} codes of {a.name} (each held by >= {ctx.k} persons) met one value "
               f"of {b.name} in all {n_rows} rows ({int(persons[kept].sum())} person-codes); held in every row.",
        body={"from": a.name, "to": b.name, "table": path, "from_column": "code", "to_column": b.name},
        files={path: [["code", b.name], *pairs]}, variables=(a.name, b.name))]


def _combinations(ctx: Context, a: DraftVariable, b: DraftVariable, table: np.ndarray, keys: np.ndarray,
                  rows: np.ndarray) -> list[DraftRule]:
    seen = table > 0
    rows_a, cols_b = seen.any(axis=1), seen.any(axis=0)
    if rows_a.sum() < 2 or cols_b.sum() < 2 or seen.sum() > MAX_TUPLES:
        return []
    missing = ~seen & np.outer(rows_a, cols_b)
    if not missing.any():
        return []
    total = table.sum()
    # in persons, not rows: a person's rows repeat one draw, so rows would overstate the evidence
    people = int(ctx.count_persons(np.zeros(len(rows), dtype=np.int64), rows, 1)[0])
    expected = (np.outer(table.sum(axis=1), table.sum(axis=0)) / total)[missing].sum() * people / total
    if expected < ctx.evidence:
        return []
    persons = ctx.count_persons(keys, rows, table.size).reshape(table.shape)
    if (persons[seen] < ctx.k).any():
        return []  # an allowed tuple held by fewer than k persons would publish a rare real combination
    na, nb = table.shape
    listed = [[None if i == na - 1 else value(a, (a.codes or [])[i]),
               None if j == nb - 1 else value(b, (b.codes or [])[j])] for i, j in zip(*np.nonzero(seen), strict=True)]
    return [DraftRule(
        id=slug(a.name, b.name, "combinations"), kind="combinations",
        reason=f"Observed: {len(listed)} combinations of {a.name} and {b.name} in {int(total)} rows, each held by "
               f">= {ctx.k} persons; {expected:.0f} persons with another combination were expected by chance, none "
               "occurred.",
        body={"variables": [a.name, b.name], "rows": listed}, variables=(a.name, b.name))]


def _implications(ctx: Context, a: DraftVariable, b: DraftVariable, table: np.ndarray, x: np.ndarray,
                  y: np.ndarray, rows: np.ndarray) -> list[DraftRule]:
    """if a in {premise codes} then b avoids the values never seen with them."""
    persons = _support(ctx, table, x, rows)
    na, nb = table.shape
    total = table.sum()
    col = table.sum(axis=0)
    shown = col > 0
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i in range(na):
        if persons[i] < ctx.k or not a.categorical and i == 0 and a.required:
            continue
        excluded = tuple(int(j) for j in np.nonzero(shown & (table[i] == 0))[0])
        if excluded:
            groups[excluded].append(i)
    out = []
    for excluded, premise in groups.items():
        null_premise = [i for i in premise if i == na - 1]
        for part in ([p for p in premise if p != na - 1], null_premise):
            if not part:
                continue
            n = int(table[part].sum())
            # in persons, not rows: a person's rows repeat one draw
            expected = int(persons[part].sum()) * col[list(excluded)].sum() / total
            if expected < ctx.evidence:
                continue
            allowed = [j for j in range(nb) if shown[j] and j not in excluded]
            held = ctx.count_persons(x * nb + y, rows, na * nb).reshape(na, nb)
            tuples_ok = bool(all(held[i, j] >= ctx.k for i in part for j in allowed))
            codes = [_index(i, na) for i in part]
            out.append(DraftRule(
                id=slug("if", a.name, "then", b.name), kind="implication",
                reason=f"Observed: in {n} rows with {describe(a, codes)} ({int(persons[part].sum())} persons), "
                       f"{b.name} never took the excluded values; {expected:.0f} such persons were expected by chance; "
                       "held in every row.",
                body={"if": premise_for(a, codes),
                      "then": test_for(b, [_index(j, nb) for j in allowed], [_index(j, nb) for j in excluded],
                                       tuples_ok)},
                variables=(a.name, b.name)))
    return out


def _in_unit(var_grain: str, values: np.ndarray, unit: str) -> np.ndarray:
    if var_grain == unit:
        return values
    return to_months(values, var_grain, "ref", 12) if unit == "month" else to_quarters(values, var_grain, "ref", 12)


def _compares(ctx: Context) -> list[DraftRule]:
    numeric = [v for v in ctx.variables.values() if v.number is not None and v.type != "identifier"]
    fine = {"year": 2, "quarter": 1, "month": 0}
    out = []
    terms: list[tuple[str, str, np.ndarray, np.ndarray]] = []  # (name, family, values, observed)
    for v in numeric:
        fam = "time" if v.type in TIME_GRAIN else "number"
        terms.append((v.name, fam, np.asarray(v.number), v.observed))
    for (na_, fa, va, oa), (nb_, fb, vb, ob) in combinations(terms, 2):
        if fa != fb:
            continue
        if fa == "time":
            ga, gb = TIME_GRAIN[ctx.variables[na_].type], TIME_GRAIN[ctx.variables[nb_].type]
            unit = min(ga, gb, key=fine.__getitem__)
            va, vb = _in_unit(ga, va, unit), _in_unit(gb, vb, unit)
        rule = _compare(ctx, na_, nb_, va, vb, oa & ob)
        if rule:
            out.append(rule)
    if ctx.grain == "year":  # yearly panels: two counts that add up to the year (start year + years since)
        whole = [(n, v, o) for n, f, v, o in terms if ctx.variables[n].type in ("integer", "year")]
        for (na_, va, oa), (nb_, vb, ob) in combinations(whole, 2):
            rule = _sum_is_period(ctx, na_, nb_, va, vb, oa & ob)
            if rule:
                out.append(rule)
    for name, fam, values, observed in terms:
        if fam != "time":
            continue
        grain = TIME_GRAIN[ctx.variables[name].type]
        unit = min(grain, ctx.grain, key=fine.__getitem__)
        rule = _compare(ctx, name, "period", _in_unit(grain, values, unit),
                        _in_unit(ctx.grain, ctx.period.astype(float), unit), observed)
        if rule:
            out.append(rule)
    return out


def _compare(ctx: Context, left: str, right: str, a: np.ndarray, b: np.ndarray, observed: np.ndarray
             ) -> DraftRule | None:
    ok = observed & ~np.isnan(a) & ~np.isnan(b)
    rows = np.nonzero(ok)[0]
    if ctx.count_persons(np.zeros(len(rows), dtype=np.int64), rows, 1)[0] < ctx.k:
        return None
    x, y = a[rows], b[rows]
    if x.max() <= y.min() or y.max() <= x.min():
        return None  # the ranges alone decide it: no relation to publish
    if (x == y).all():
        op = "="
    elif (x <= y).all():
        op = "<" if (x < y).all() else "<="
    elif (x >= y).all():
        op = ">" if (x > y).all() else ">="
    else:
        return None
    return DraftRule(
        id=slug(left, "vs", right), kind="compare",
        reason=f"Observed: {left} {op} {right} in all {len(rows)} rows where both are filled, although their "
               "ranges overlap; held in every row.",
        body={"left": left, "op": op, "right": right}, variables=(left,) if right == "period" else (left, right))


def _sum_is_period(ctx: Context, left: str, right: str, a: np.ndarray, b: np.ndarray, observed: np.ndarray
                   ) -> DraftRule | None:
    """``a + b = period`` or ``a - b = period`` in every row (a start year and the years since it)."""
    ok = observed & ~np.isnan(a) & ~np.isnan(b)
    rows = np.nonzero(ok)[0]
    if ctx.count_persons(np.zeros(len(rows), dtype=np.int64), rows, 1)[0] < ctx.k:
        return None
    period = ctx.period[rows].astype(float)
    x, y = a[rows], b[rows]
    for expr, values in ((f"{left} + {right}", x + y), (f"{left} - {right}", x - y), (f"{right} - {left}", y - x)):
        if (values == period).all():
            return DraftRule(
                id=slug(left, right, "period"), kind="compare", variables=(left, right),
                reason=f"Observed: {expr} = period in all {len(rows)} rows where both are filled; held in every row.",
                body={"left": expr, "op": "=", "right": "period"})
    return None
