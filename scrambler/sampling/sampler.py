"""The constrained sampler: draws a period of a panel, variable by variable, valid by construction.

For each variable, in the spec's order, the sampler computes per row the set of values that keep every
rule whose other variables are already known (``candidate_mask`` fast paths, else each code is tried on
the vectorised rule), intersected with the variable's domain and with the temporal rules against the
person's previous and next observed values. A method's proposal (a donor's value, last year's value, a
model's sample) is kept where it is allowed; elsewhere a value is drawn from the model's weights restricted
to the allowed set. Rows left with no allowed value ("dead ends", from rules whose consequences meet only
later) are redrawn whole, a bounded number of times; what still fails raises UnsatisfiableError naming the
variable and rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.domain import build_domain
from scrambler.constraints.registry import compile_rules
from scrambler.errors import Issue, UnsatisfiableError
from scrambler.panel import Panel, is_null
from scrambler.sampling.models import VariableModel, pick_columns
from scrambler.sampling.numeric import draw_numeric
from scrambler.sampling.rules import VariableRules, blame, neighbour_sets
from scrambler.spec.model import DatasetSpec

CHUNK = 250_000
# Proposals: (values, has) for the rows asked, or None. values: codes (-1 null) or floats (NaN null).
# The generator is the chunk's own (deterministic under threads): use it for any randomness.
Proposals = Callable[[str, int, np.ndarray, Frame, np.random.Generator],
                     "tuple[np.ndarray, np.ndarray] | None"]


def draw_order(spec: DatasetSpec) -> list[str]:
    declared = [v.name for v in spec.data_variables]
    order = [n for n in spec.generator.order if n in declared]
    return order + [n for n in declared if n not in order]


class Sampler:
    def __init__(self, spec: DatasetSpec, models: dict[str, VariableModel], order: Sequence[str] | None = None,
                 max_redraws: int = 30, threads: int | None = None,
                 rules: list[CompiledRule] | None = None) -> None:
        self._leading: dict[str, Sampler] = {}  # see leading()
        self._dead_ends: dict[str, dict[str, int]] = {}  # variable -> rule (or "its domain") -> rows, last period
        self.threads = threads if threads is not None else min(4, os.cpu_count() or 1)
        self.spec = spec
        self.models = models
        self.order = list(order) if order is not None else draw_order(spec)
        self.max_redraws = max_redraws
        if rules is None:
            rules = compile_rules(spec)
            # a value at t is also the previous value of the rules at t + 1 that read previous(x)
            rules = rules + [view for r in rules if (view := r.ahead()) is not None]
        self.rules = rules  # compiled once; coverage and the guard reuse them
        statics = {v.name for v in spec.data_variables if v.is_static}
        always = {v.name for v in spec.data_variables if v.scope == "always"}
        non_always_period = {v.name for v in spec.data_variables if not v.is_static and v.scope != "always"}
        self.variable_rules: dict[str, VariableRules] = {}
        for i, name in enumerate(self.order):
            before = set(self.order[:i])
            var = spec.variables[name]
            row_rules = [r for r in rules if not r.temporal and name in r.variables]

            def ready(known: set[str], rs: list[CompiledRule] = row_rules, name: str = name) -> list[CompiledRule]:
                return [r for r in rs if set(r.variables) - {name} <= known]

            self.variable_rules[name] = VariableRules(
                var=var, domain=build_domain(var),
                first_rules=ready(before),
                later_rules=ready(before | statics),
                absent_rules=ready((before & always) | non_always_period) if name in always else [],
                temporal=[r for r in rules if r.temporal and r.variables[0] == name])
        # Rules that name only static variables (and the period) are drawn once, at a person's first period;
        # at later periods nothing is drawn that would re-check them, so they are verified there explicitly.
        self.static_rules = [r for r in rules if not r.temporal and set(r.variables) <= statics]

    def leading(self, name: str) -> Sampler:
        """The same sampler drawing ``name`` first: first of all for a static, else right after the statics
        (drawn at a person's first period only, before anything periodic). Coverage of a category that no
        input person shows in context proposes it here, so the variables that rules tie to it (a benefit's
        type of incapacity days, the position that allows those days) are drawn to fit it instead of vetoing
        it: in the spec's order they come first, and nothing in the input shows which of their values would
        let the category in. Valid by construction all the same: every rule is checked once all its
        variables are drawn, whatever the order."""
        if name in self._leading:
            return self._leading[name]
        statics = [n for n in self.order if self.spec.variables[n].is_static and n != name]
        periodic = [n for n in self.order if not self.spec.variables[n].is_static and n != name]
        order = [name] + statics + periodic if self.spec.variables[name].is_static else statics + [name] + periodic
        other = Sampler(self.spec, self.models, order, self.max_redraws, self.threads, self.rules)
        self._leading[name] = other
        return other

    # ---- one period --------------------------------------------------------------------------------------

    def draw_period(self, panel: Panel, t: int, rng: np.random.Generator, rows: np.ndarray | None = None,
                    proposals: Proposals | None = None, first: np.ndarray | None = None,
                    on_dead: Callable[[np.ndarray], None] | None = None) -> None:
        """Draw every variable at period index t for ``rows`` (default: all persons), in place.

        ``first``: per row, whether this is the person's first present period (statics are drawn then);
        default: no present period before t. ``on_dead``: called with the rows still dead after the redraws
        instead of raising (the generator lets such persons leave the population).

        Persons are independent within a period, so row chunks are drawn in parallel threads (numpy releases
        the GIL); each chunk has its own generator spawned from ``rng``, so results depend on the seed and the
        chunk size only, never on thread timing.
        """
        rows = np.arange(panel.n) if rows is None else rows
        if first is None:
            first = ~panel.present[:t, rows].any(axis=0) if t > 0 else np.ones(len(rows), dtype=bool)
        present = panel.present[t, rows]
        for name in self.order:
            var = self.spec.variables[name]
            if not var.is_static and var.scope != "always":
                panel.periodic[name][t, rows[~present]] = -1 if var.is_categorical else np.nan
        starts = list(range(0, len(rows), CHUNK)) or [0]
        seeds = rng.integers(0, 2**63 - 1, size=len(starts))

        def work(i: int) -> tuple[np.ndarray, dict[str, dict[str, int]]]:
            sl = slice(starts[i], starts[i] + CHUNK)
            return self._draw_chunk(panel, t, rows[sl], present[sl], first[sl],
                                    np.random.default_rng(seeds[i]), proposals)

        if len(starts) > 1 and self.threads > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                results = list(pool.map(work, range(len(starts))))
        else:
            results = [work(i) for i in range(len(starts))]
        dead = np.concatenate([r[0] for r in results]) if results else np.zeros(0, dtype=bool)
        self._dead_ends = {}
        for _, counts in results:
            for name, per in counts.items():
                for culprit, c in per.items():
                    blame(self._dead_ends, name, culprit, c)
        if dead.any():
            if on_dead is None:
                self._raise_dead(panel, t, rows[dead])
            else:
                on_dead(rows[dead])

    def _draw_chunk(self, panel: Panel, t: int, rows: np.ndarray, present: np.ndarray, first: np.ndarray,
                    rng: np.random.Generator, proposals: Proposals | None
                    ) -> tuple[np.ndarray, dict[str, dict[str, int]]]:
        """Draw, then redraw dead rows; stop early when redraws no longer reduce them (truly impossible rows
        would otherwise cost every remaining attempt)."""
        counts: dict[str, dict[str, int]] = {}
        dead = self._draw_rows(panel, t, rows, present, first, rng, proposals, True, counts)
        attempt = stalled = 0
        best = int(dead.sum())
        while dead.any() and attempt < self.max_redraws and stalled < 4:
            attempt += 1
            sub = np.nonzero(dead)[0]
            # later attempts drop the proposals (and staying put): they may be what leads into the dead end
            again = self._draw_rows(panel, t, rows[sub], present[sub], first[sub], rng,
                                    proposals if attempt < 3 else None, attempt < 3, counts)
            dead[sub] = again
            remaining = int(dead.sum())
            stalled = stalled + 1 if remaining >= best else 0
            best = min(best, remaining)
        return dead, counts

    def _draw_rows(self, panel: Panel, t: int, rows: np.ndarray, present: np.ndarray, first: np.ndarray,
                   rng: np.random.Generator, proposals: Proposals | None, use_stay: bool,
                   counts: dict[str, dict[str, int]]) -> np.ndarray:
        dead = np.zeros(len(rows), dtype=bool)
        for name in self.order:
            vr = self.variable_rules[name]
            var = vr.var
            groups: list[tuple[np.ndarray, list[CompiledRule], bool]] = []
            groups.append((np.nonzero(present & first)[0], vr.first_rules, True))
            if not var.is_static:
                groups.append((np.nonzero(present & ~first)[0], vr.later_rules, True))
                if var.scope == "always":
                    groups.append((np.nonzero(~present)[0], vr.absent_rules, False))
            for idx, rules, is_present in groups:
                if len(idx) == 0:
                    continue
                failed = self._draw_var(panel, t, rows[idx], vr, rules, is_present, rng, proposals, use_stay,
                                        counts)
                dead[idx[failed]] = True
        later = np.nonzero(present & ~first)[0]
        if self.static_rules and len(later):
            frame = panel.frame(t, rows[later])
            ok = np.ones(len(later), dtype=bool)
            for rule in self.static_rules:
                holds = rule.is_valid(frame)
                blame(counts, rule.variables[0], rule.id, int((ok & ~holds).sum()))  # the first rule to fail
                ok &= holds
            dead[later[~ok]] = True
        return dead

    # ---- one variable ------------------------------------------------------------------------------------

    def _target(self, panel: Panel, name: str) -> tuple[np.ndarray, bool]:
        if name in panel.static:
            return panel.static[name], True
        return panel.periodic[name], False

    def _draw_var(self, panel: Panel, t: int, rows: np.ndarray, vr: VariableRules, rules: list[CompiledRule],
                  is_present: bool, rng: np.random.Generator, proposals: Proposals | None,
                  use_stay: bool, counts: dict[str, dict[str, int]]) -> np.ndarray:
        frame = panel.frame(t, rows)
        name = vr.var.name
        proposal = proposals(name, t, rows, frame, rng) if proposals is not None else None
        if proposal is None and use_stay:
            proposal = self._stay_proposal(panel, name, t, rows, rng)
        if vr.var.is_categorical:
            values, dead = self._draw_codes(panel, t, rows, vr, rules, is_present, frame, proposal, rng)
            if dead.any():  # which rule emptied each dead row's codes (recomputed for those rows only)
                lost = rows[dead]
                self._allowed_codes(panel, t, lost, vr, rules, is_present, panel.frame(t, lost),
                                    culprits=counts)
        else:
            near = neighbour_sets(panel, name, t, rows) if vr.temporal and not vr.var.is_static else None
            values, dead, blamed = draw_numeric(vr, rules, is_present, frame, proposal, rng,
                                                self.models.get(name) or VariableModel(),
                                                name == self.spec.panel.presence, near)
            for culprit, c in blamed.items():
                blame(counts, name, culprit, c)
        target, static = self._target(panel, name)
        if static:
            target[rows] = values
        else:
            target[t, rows] = values
        return dead

    def _stay_proposal(self, panel: Panel, name: str, t: int, rows: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray] | None:
        model = self.models.get(name)
        if model is None or model.stay <= 0 or t == 0 or name in panel.static:
            return None
        prev = panel.periodic[name][t - 1, rows]
        has = ~is_null(prev) & (rng.random(len(rows)) < model.stay)
        return prev, has

    def _allowed_codes(self, panel: Panel, t: int, rows: np.ndarray, vr: VariableRules, rules: list[CompiledRule],
                       is_present: bool, frame: Frame, culprits: dict[str, dict[str, int]] | None = None
                       ) -> np.ndarray:
        """Per row, the codes (and null, last column) that keep the domain and every rule. ``culprits``: count
        each row left with none against the rule that removed its last code."""
        var = vr.var
        K = len(var.codes)
        n = len(rows)
        base = vr.domain.codes_mask.copy()  # type: ignore[union-attr]
        if not is_present:
            base[-1] = True  # absent person-periods may hold null even for required variables
        elif var.name == self.spec.panel.presence:
            base[-1] = False
        mask = np.broadcast_to(base, (n, K + 1)).copy()
        alive = mask.any(axis=1)
        if culprits is not None:
            blame(culprits, var.name, "its domain", int((~alive).sum()))

        def emptied_by(rule: CompiledRule) -> None:
            nonlocal alive
            if culprits is not None:
                now = mask.any(axis=1)
                blame(culprits, var.name, rule.id, int((alive & ~now).sum()))
                alive = now

        for rule in rules:
            fast = rule.candidate_mask(var.name, frame, K)
            if fast is not None:
                mask &= fast
            else:
                for k in np.nonzero(mask.any(axis=0))[0]:
                    code = -1 if k == K else k
                    trial = frame.with_value(var.name, np.full(n, code, dtype=np.int16))
                    mask[:, k] &= rule.is_valid(trial)
            emptied_by(rule)
        if vr.temporal and not var.is_static:
            chains = neighbour_sets(panel, var.name, t, rows)
            for rule in vr.temporal:
                for (prev, pgap), (nxt, ngap) in chains:
                    for k in np.nonzero(mask.any(axis=0))[0]:
                        cand = np.full(n, -1 if k == K else k, dtype=np.int16)
                        mask[:, k] &= rule.pair_valid(prev, cand, pgap) & rule.pair_valid(cand, nxt, ngap)
                emptied_by(rule)
        return mask

    def _proposal_valid(self, panel: Panel, t: int, rows: np.ndarray, vr: VariableRules, rules: list[CompiledRule],
                        is_present: bool, frame: Frame, values: np.ndarray) -> np.ndarray:
        """Whether each row's proposed code keeps the domain and every rule: one evaluation per rule, instead
        of one per code - most rows keep their proposal (last period's value, a donor's value)."""
        var = vr.var
        base = vr.domain.codes_mask.copy()  # type: ignore[union-attr]
        if not is_present:
            base[-1] = True
        elif var.name == self.spec.panel.presence:
            base[-1] = False
        ok = base[values]
        trial = frame.with_value(var.name, values)
        for rule in rules:
            ok &= rule.is_valid(trial)
        if vr.temporal and not var.is_static:
            for (prev, pgap), (nxt, ngap) in neighbour_sets(panel, var.name, t, rows):
                for rule in vr.temporal:
                    ok &= rule.pair_valid(prev, values, pgap) & rule.pair_valid(values, nxt, ngap)
        return ok

    def _draw_codes(self, panel: Panel, t: int, rows: np.ndarray, vr: VariableRules, rules: list[CompiledRule],
                    is_present: bool, frame: Frame, proposal: tuple[np.ndarray, np.ndarray] | None,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        var = vr.var
        K = len(var.codes)
        n = len(rows)
        out = np.full(n, -1, dtype=np.int16)
        todo = np.ones(n, dtype=bool)
        if proposal is not None:
            values, has = proposal
            values = np.where(has, values, -1).astype(np.int16)
            keep = has & self._proposal_valid(panel, t, rows, vr, rules, is_present, frame, values)
            out[keep] = values[keep]
            todo &= ~keep
        idx = np.nonzero(todo)[0]
        if len(idx) == 0:
            return out, np.zeros(n, dtype=bool)
        sub = frame if len(idx) == n else panel.frame(t, rows[idx])
        m = self._allowed_codes(panel, t, rows[idx], vr, rules, is_present, sub)
        model = self.models.get(var.name)
        if model is not None and model.weights is not None:
            given = None
            if model.conditional is not None:
                given = sub[model.conditional[0]]
            w = model.code_weights(given, len(idx)) * m
        else:
            w = m.astype(np.float32)
        zero = w.sum(axis=1) <= 0
        if zero.any():  # allowed codes all have weight 0: uniform over the allowed ones
            w[zero] = m[zero]
        pick, dead = pick_columns(w, rng)
        drawn = np.where(pick == K, -1, pick).astype(np.int16)
        drawn[dead] = -1
        out[idx] = drawn
        dead_rows = np.zeros(n, dtype=bool)
        dead_rows[idx[dead]] = True
        return out, dead_rows

    def _raise_dead(self, panel: Panel, t: int, rows: np.ndarray) -> None:
        """Name, per variable, the rules that removed the last value of the dead rows, counted over the draw and
        its redraws."""
        issues = []
        ranked = sorted(self._dead_ends.items(), key=lambda kv: -sum(kv[1].values()))[:5]
        for name, per in ranked:
            culprits = ", ".join(f"{rule} ({count} failed draw{'s' if count > 1 else ''})"
                                 for rule, count in sorted(per.items(), key=lambda kv: -kv[1]))
            issues.append(Issue(code="unsatisfiable", variable=name,
                                message=f"{len(rows)} person(s) at period {panel.periods[t]} have no value left "
                                f"for {name} after {self.max_redraws} redraws; emptied by: {culprits}"))
        raise UnsatisfiableError(issues or [Issue(code="unsatisfiable", message="dead ends remain")])
