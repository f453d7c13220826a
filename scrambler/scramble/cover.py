"""Rare-category coverage: every input category (optionally every allowed code) at least k times per
variable per table block, as far as the constraints allow.

Stage 1 moves the category into person-periods where it breaks no rule as it stands. Stage 2 sets it and
redraws the rest of the person-period with the sampler (keeping every other value it still allows);
rows where the category does not survive are put back. What stays short is reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.domain import build_domain
from scrambler.coverage import BlockKey, block_counts
from scrambler.panel import Panel
from scrambler.sampling import Sampler


@dataclass
class Gap:
    table: str
    block: str
    variable: str
    code: str
    wanted: int
    got: int

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "block": self.block or "(T)", "variable": self.variable, "code": self.code,
                "wanted": self.wanted, "got": self.got}


def _targets(source: Panel | dict[BlockKey, np.ndarray], out: Panel, k: int, codelist: bool
             ) -> list[tuple[str, str, str, int, int]]:
    """(table, block, variable, code, shortfall) for every category below k; ``source`` may be the input's
    precomputed block counts (they never change during a run)."""
    spec = out.spec
    have = block_counts(out)
    wanted = source if isinstance(source, dict) else block_counts(source)
    todo = []
    for key, counts in wanted.items():
        table, suffix, name = key
        var = spec.variables[name]
        needed = counts > 0
        if codelist:
            needed |= build_domain(var).codes_mask[:-1]  # type: ignore[index]
        got = have.get(key, np.zeros_like(counts))
        for code in np.nonzero(needed & (got < k))[0]:
            todo.append((table, suffix, name, int(code), int(k - got[code])))
    return todo


def _rules_for(sampler: Sampler, name: str) -> tuple[list[CompiledRule], list[CompiledRule]]:
    """Every row rule naming the variable (whatever the draw order), and its temporal rules."""
    return [r for r in sampler.rules if name in r.variables and not r.temporal], sampler.plans[name].temporal


def ensure_coverage(source: Panel, out: Panel, sampler: Sampler, rng: np.random.Generator, k: int,
                    codelist: bool = False, passes: int = 3,
                    wanted: dict[BlockKey, np.ndarray] | None = None,
                    wanted_combos: dict[ComboKey, dict[tuple[int, ...], int]] | None = None) -> list[Gap]:
    """``wanted``, ``wanted_combos``: the input's block and combination counts when the caller has them (they
    never change during a run)."""
    spec = out.spec
    index = {p: i for i, p in enumerate(out.periods)}
    tables = {name: (table, period) for name, table, period in spec.table_names()}
    rule_cache: dict[str, tuple[list[CompiledRule], list[CompiledRule]]] = {}
    wanted = block_counts(source) if wanted is None else wanted
    for _ in range(passes):
        todo = _targets(wanted, out, k, codelist)
        if not todo:
            return []
        for table_name, suffix, name, code, need in todo:
            table, period = tables[table_name]
            block = next(b for b in table.blocks if b.suffix == suffix)
            t0 = index[period]
            t = t0 + block.offset
            var = spec.variables[name]
            if name not in rule_cache:
                rule_cache[name] = _rules_for(sampler, name)
            rows = out.present[t0].copy()
            if var.scope == "present" and not var.is_static:
                rows &= out.present[t]
            current = out.values(name, t)
            # Take the category only from rows whose own value has plenty to spare: coverage must not be
            # zero-sum between two rare codes of the same block.
            in_block = current[out.present[t0]]
            spare = np.bincount(in_block[in_block >= 0].astype(np.int64), minlength=len(var.codes))
            plenty = np.append(spare > k + need, True)  # last slot: null rows are always fine to use
            rows &= (current != code) & plenty[np.where(current < 0, -1, current)]
            candidates = np.nonzero(rows)[0]
            if len(candidates) == 0:
                continue
            candidates = rng.permutation(candidates)[: max(200 * need, 5000)]
            done = _direct(out, sampler, name, code, t, candidates, need, *rule_cache[name])
            if done < need and not var.is_static:
                rest = np.setdiff1d(candidates, np.nonzero(out.values(name, t) == code)[0])
                done += _redraw(out, sampler, rng, name, code, t, rest[: 20 * (need - done)], need - done)
            if done < need and not var.is_static:
                templates = np.nonzero(source.present[t] & (source.values(name, t) == code))[0]
                if len(templates):
                    rest = np.setdiff1d(candidates, np.nonzero(out.values(name, t) == code)[0])
                    rest = rest[: 20 * (need - done)]
                    chosen = templates[rng.integers(0, len(templates), size=len(rest))]
                    _redraw(out, sampler, rng, name, code, t, rest, need - done, source=source, templates=chosen)
    combo_gaps = ensure_combinations(source, out, sampler, rng, k, passes, wanted_combos)
    return current_gaps(wanted, out, k, codelist) + combo_gaps


ComboKey = tuple[str, str, tuple[str, ...]]  # (table, block suffix, variables)


def combination_counts(panel: Panel, combos: tuple[tuple[str, ...], ...]) -> dict[ComboKey, dict[tuple[int, ...], int]]:
    """Counts of each non-null tuple of every declared combination, per table block showing all its variables.

    Each tuple is one mixed-radix integer over the code list sizes, counted with bincount (or a 1-d unique
    when the product of the sizes is large): np.unique(axis=0) on a 7-million-row stack took minutes."""
    spec = panel.spec
    index = {p: i for i, p in enumerate(panel.periods)}
    out: dict[ComboKey, dict[tuple[int, ...], int]] = {}
    for name, table, period in spec.table_names():
        t0 = index[period]
        rows = panel.present[t0]
        for block in table.blocks:
            for combo in combos:
                if not all(v in block.variables for v in combo):
                    continue
                t = t0 + block.offset
                sizes = [len(spec.variables[v].codes) for v in combo]
                key = np.zeros(int(rows.sum()), dtype=np.int64)
                valid = np.ones(len(key), dtype=bool)
                for v, size in zip(combo, sizes, strict=True):
                    values = panel.values(v, t)[rows]
                    valid &= values >= 0
                    key = key * size + np.maximum(values, 0)
                key = key[valid]
                total = int(np.prod(sizes, dtype=np.int64))
                if total <= 4 * len(key) + 1_000_000:
                    counts = np.bincount(key, minlength=total)
                    keys = np.nonzero(counts)[0]
                    counts = counts[keys]
                else:
                    keys, counts = np.unique(key, return_counts=True)
                out[(name, block.suffix, combo)] = {_unpack(int(k), sizes): int(c)
                                                     for k, c in zip(keys, counts, strict=True)}
    return out


def _unpack(key: int, sizes: list[int]) -> tuple[int, ...]:
    digits = []
    for size in reversed(sizes):
        key, digit = divmod(key, size)
        digits.append(digit)
    return tuple(reversed(digits))


def ensure_combinations(source: Panel, out: Panel, sampler: Sampler, rng: np.random.Generator, k: int,
                        passes: int = 3, wanted: dict[ComboKey, dict[tuple[int, ...], int]] | None = None
                        ) -> list[Gap]:
    """Every tuple of a declared combination that the input shows reaches k in the output's same table block,
    as far as the constraints allow: person-periods are redrawn around the tuple, its earlier variables
    borrowed from input person-periods that hold it."""
    spec = out.spec
    combos = spec.scramble.coverage_combinations
    if not combos:
        return []
    index = {p: i for i, p in enumerate(out.periods)}
    tables = {name: (table, period) for name, table, period in spec.table_names()}
    wanted = combination_counts(source, combos) if wanted is None else wanted
    position = {n: i for i, n in enumerate(sampler.order)}
    for _ in range(passes):
        have = combination_counts(out, combos)
        todo = [(key, tup, k - have.get(key, {}).get(tup, 0)) for key, tuples in wanted.items()
                for tup in tuples if have.get(key, {}).get(tup, 0) < k]
        if not todo:
            break
        for (table_name, suffix, combo), tup, need in todo:
            table, period = tables[table_name]
            block = next(b for b in table.blocks if b.suffix == suffix)
            t0 = index[period]
            t = t0 + block.offset
            values = dict(zip(combo, tup, strict=True))
            period_vars = [v for v in combo if not spec.variables[v].is_static]
            last = max(period_vars or combo, key=position.__getitem__)
            rows = out.present[t0] & out.present[t]
            for v in combo:
                if spec.variables[v].is_static and v != last:
                    rows &= out.static[v] == values[v]  # statics stay: pick persons that already hold them
            if not period_vars:  # statics only: set the last one where every rule at every period allows it
                rows &= out.static[last] != values[last]
                candidates = rng.permutation(np.nonzero(rows)[0])[: 200 * need]
                _direct(out, sampler, last, values[last], t, candidates, need, *_rules_for(sampler, last))
                continue
            candidates = rng.permutation(np.nonzero(rows)[0])[: 20 * need]
            templates = np.nonzero(source.present[t] & np.logical_and.reduce(
                [source.values(v, t) == values[v] for v in combo]))[0]
            if len(candidates) == 0 or len(templates) == 0:
                continue
            chosen = templates[rng.integers(0, len(templates), size=len(candidates))]
            _redraw(out, sampler, rng, last, values[last], t, candidates, need, source=source, templates=chosen,
                    require={v: c for v, c in values.items() if v != last})
    return combination_gaps(source, out, k, wanted)


def combination_gaps(source: Panel, out: Panel, k: int,
                     wanted: dict[ComboKey, dict[tuple[int, ...], int]] | None = None) -> list[Gap]:
    """Tuples of declared combinations the input shows and the output holds fewer than k times, as it stands."""
    spec = out.spec
    combos = spec.scramble.coverage_combinations
    if not combos:
        return []
    wanted = combination_counts(source, combos) if wanted is None else wanted
    have = combination_counts(out, combos)
    gaps = []
    for (table_name, suffix, combo), tuples in wanted.items():
        for tup in tuples:
            got = have.get((table_name, suffix, combo), {}).get(tup, 0)
            if got < k:
                code = "×".join(spec.variables[v].codes[c] for v, c in zip(combo, tup, strict=True))
                gaps.append(Gap(table_name, suffix, "×".join(combo), code, k, got))
    return gaps


def current_gaps(source: Panel | dict[BlockKey, np.ndarray], out: Panel, k: int, codelist: bool = False
                 ) -> list[Gap]:
    """The categories the output holds fewer than k times where the input has them, as it stands now."""
    have = block_counts(out)
    gaps = []
    for table_name, suffix, name, code, _ in _targets(source, out, k, codelist):
        got = int(have[(table_name, suffix, name)][code])
        gaps.append(Gap(table_name, suffix, name, out.spec.variables[name].codes[code], k, got))
    return gaps


def _valid_with(out: Panel, name: str, code: int, t: int, rows: np.ndarray, row_rules: list[CompiledRule],
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
        (prev, pgap), (nxt, ngap) = sampler._neighbours(out, name, t, rows)
        cand = np.full(len(rows), code, dtype=np.int16)
        for rule in temporal:
            ok &= rule.pair_valid(prev, cand, pgap) & rule.pair_valid(cand, nxt, ngap)
    ok &= bool(sampler.plans[name].domain.codes_mask[code])  # type: ignore[index]
    return ok


def _direct(out: Panel, sampler: Sampler, name: str, code: int, t: int, rows: np.ndarray, need: int,
            row_rules: list[CompiledRule], temporal: list[CompiledRule]) -> int:
    ok = _valid_with(out, name, code, t, rows, row_rules, temporal, sampler)
    chosen = rows[ok][:need]
    if name in out.static:
        out.static[name][chosen] = code
    else:
        out.periodic[name][t, chosen] = code
    return len(chosen)


def _redraw(out: Panel, sampler: Sampler, rng: np.random.Generator, name: str, code: int, t: int,
            rows: np.ndarray, need: int, source: Panel | None = None, templates: np.ndarray | None = None,
            require: dict[str, int] | None = None) -> int:
    """Set ``name`` = code on ``rows`` at t and redraw the person-period around it. With ``templates`` (input
    person-periods that hold the code), the variables drawn before ``name`` are proposed from them: the
    context the category needs. Later variables keep their current values where still allowed."""
    if len(rows) == 0:
        return 0
    order = np.argsort(rows)
    rows = rows[order]
    saved = {n: v[t, rows].copy() for n, v in out.periodic.items()}
    before = set(sampler.order[:sampler.order.index(name)])
    borrowed: dict[str, np.ndarray] = {}
    if source is not None and templates is not None:
        templates = templates[order]
        borrowed = {n: source.periodic[n][t, templates] for n in before if n in source.periodic}

    def keep_current(var: str, tt: int, sub: np.ndarray, frame: object, rng: object) -> tuple[np.ndarray, np.ndarray]:
        if var == name:
            return np.full(len(sub), code, dtype=np.int16), np.ones(len(sub), dtype=bool)
        pos = np.searchsorted(rows, sub)
        if var in out.static:
            values = out.static[var][sub]
        elif var in borrowed:
            values = borrowed[var][pos]
        else:
            values = saved[var][pos]
        return values, np.ones(len(sub), dtype=bool)

    try:
        sampler.draw_period(out, t, rng, rows=rows, proposals=keep_current, first=np.zeros(len(rows), dtype=bool))
    except Exception:  # noqa: BLE001 - a failed attempt is put back, never half-applied
        for n, v in saved.items():
            out.periodic[n][t, rows] = v
        return 0
    got = out.periodic[name][t, rows] == code
    for other, wanted_code in (require or {}).items():
        got &= out.values(other, t)[rows] == wanted_code
    keep = np.nonzero(got)[0][:need]
    revert = np.setdiff1d(np.arange(len(rows)), keep)
    for n, v in saved.items():
        out.periodic[n][t, rows[revert]] = v[revert]
    return len(keep)
