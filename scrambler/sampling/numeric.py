"""Drawing a number under the rules: per row the interval the domain and the rules' bounds allow, forced nulls,
a proposal kept where it fits, then a draw from the variable's model verified against the rules that gave no
bounds (retried, then null where allowed)."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.sampling.models import VariableModel, draw_numbers
from scrambler.sampling.rules import Neighbours, VariableRules
from scrambler.spec.model import Variable

NUMERIC_RETRIES = 8


def round_to_grid(var: Variable, values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Values on the variable's grid, as published (whole numbers or ``decimals``), inside [low, high]."""
    if var.integral:
        values = np.floor(values + 0.5)
    else:
        values = np.round(values, var.decimals)
    return np.clip(values, low, high)


def draw_numeric(vr: VariableRules, rules: list[CompiledRule], is_present: bool, frame: Frame,
                 proposal: tuple[np.ndarray, np.ndarray] | None, rng: np.random.Generator,
                 model: VariableModel, is_presence: bool, near: list[Neighbours] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(values, dead rows, dead rows per culprit rule). ``near``: the previous and next values on every chain
    a rule across time holds on (see :func:`~scrambler.sampling.rules.neighbour_sets`) when temporal rules
    apply."""
    var = vr.var
    n = frame.n
    low = np.full(n, vr.domain.low)
    high = np.full(n, vr.domain.high)
    # the rule whose bounds first left a row's interval empty is the one to blame for its dead end
    culprit = np.full(n, -1, dtype=np.int64)
    force_null = np.zeros(n, dtype=bool)
    force_present = np.zeros(n, dtype=bool)
    others: list[CompiledRule] = []
    for i, rule in enumerate(rules):
        b = rule.bounds(var.name, frame)
        fn = rule.forced_null(var.name, frame)
        if b is not None:
            low, high = np.maximum(low, b[0]), np.minimum(high, b[1])
            culprit[(culprit < 0) & (low > high)] = i
        if fn is not None:
            force_null |= fn[0]
            force_present |= fn[1]
        if b is None or not rule.bounds_exact:
            others.append(rule)
    temporal = vr.temporal if near is not None else []
    chains = near or []
    for rule in temporal:
        for chain in chains:
            if rule.pins_to_neighbours:  # e.g. a constant number must equal its neighbours: pin the interval
                for value, _ in chain:
                    known = ~np.isnan(value)
                    low[known] = np.maximum(low[known], value[known])
                    high[known] = np.minimum(high[known], value[known])
            else:  # e.g. a numeric step: the interval its neighbours leave
                (prev, pgap), (nxt, ngap) = chain
                found = rule.neighbour_bounds(prev.astype(float), pgap, nxt.astype(float), ngap)
                if found is not None:
                    low, high = np.maximum(low, found[0]), np.minimum(high, found[1])
    if var.integral:
        low, high = np.ceil(low), np.floor(high)
    else:
        # the interval's grid points (as published, ``decimals`` places): a step of 0.5..2.5 on a whole-number
        # decimal left 2.5, which the tables publish as 2 - off the interval the rule allowed
        scale = 10.0 ** var.decimals
        low, high = np.ceil(low * scale - 1e-9) / scale, np.floor(high * scale + 1e-9) / scale
    nullable = (vr.domain.nullable or not is_present) and not is_presence
    null_ok = (nullable & ~force_present) | force_null
    out = np.full(n, np.nan)
    todo = ~force_null
    if proposal is not None:
        values, has = proposal
        has = has & todo
        pv = values.copy()
        clip = has & ~np.isnan(pv) & (low <= high)
        # on the variable's grid, as published (decimals): the guard and the check see the same values
        pv[clip] = round_to_grid(var, pv[clip], low[clip], high[clip])
        ok = has & ((np.isnan(pv) & null_ok) | (~np.isnan(pv) & (low <= high)))
        out[ok] = pv[ok]
        todo &= ~ok
    want_null = todo & null_ok & (rng.random(n) < model.null_share)
    todo &= ~want_null
    empty = todo & (low > high)
    todo &= ~empty
    idx = np.nonzero(todo)[0]
    out[idx] = round_to_grid(var, draw_numbers(model, low[idx], high[idx], rng), low[idx], high[idx])
    dead = empty & ~null_ok
    blamed: dict[str, int] = {}
    for i in np.unique(culprit[dead]):
        name = rules[i].id if i >= 0 else ("temporal rules" if temporal else "its domain")
        blamed[name] = int((culprit[dead] == i).sum())
    # verify the rules that gave no bounds (and forbidden values); retry, then fall back to null
    for attempt in range(NUMERIC_RETRIES + 1):
        bad = ~vr.domain.valid_numbers(out)
        failing: list[tuple[str, np.ndarray]] = []
        if others:
            trial = frame.with_value(var.name, out)
            for rule in others:
                rejected = ~rule.is_valid(trial)
                failing.append((rule.id, rejected))
                bad |= rejected
        for rule in temporal:
            rejected = np.zeros(n, dtype=bool)
            for (prev, pgap), (nxt, ngap) in chains:
                rejected |= ~(rule.pair_valid(prev, out, pgap) & rule.pair_valid(out, nxt, ngap))
            failing.append((rule.id, rejected))
            bad |= rejected
        bad &= ~dead
        if not bad.any():
            break
        idx = np.nonzero(bad)[0]
        if attempt == NUMERIC_RETRIES:
            fallback = null_ok[idx]
            out[idx[fallback]] = np.nan
            lost = idx[~fallback]
            dead[lost] = True
            for rule_id, rejected in failing:  # the rules that still refuse the last draw
                if rejected[lost].any():
                    blamed[rule_id] = blamed.get(rule_id, 0) + int(rejected[lost].sum())
            break
        out[idx] = round_to_grid(var, draw_numbers(model, low[idx], high[idx], rng, uniform=attempt > 1),
                                 low[idx], high[idx])
    return out, dead, blamed
