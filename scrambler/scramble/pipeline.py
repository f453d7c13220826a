"""scramble(): from an input panel to a scrambled panel that keeps every rule, covers every category and
depicts no real situation - checked independently before anything is returned."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scrambler.check import CheckReport, check
from scrambler.decode import OVERLAP_PERSONS
from scrambler.errors import Issue, UnsatisfiableError
from scrambler.identifiers import SEQUENCE_HIGH, SEQUENCE_LOW, new_sequence_numbers
from scrambler.panel import Panel
from scrambler.sampling import Sampler
from scrambler.sampling.sampler import draw_order
from scrambler.scramble import guard as guard_mod
from scrambler.scramble import outsider
from scrambler.scramble.background import Background
from scrambler.scramble.cover import CoverageCounts, ensure_coverage, shortfalls, stated_gaps
from scrambler.scramble.donors import anchors
from scrambler.scramble.gaps import Gap, explain_gaps, input_codes
from scrambler.scramble.moves import redraw_persons
from scrambler.scramble.plan import Plan, code_counts, make_plan
from scrambler.scramble.profile import profile_models
from scrambler.scramble.proposals import MethodProposals
from scrambler.spec.model import DatasetSpec
from scrambler.tables import published_observation

LABEL = "scrambled data: depicts no real situation"
GUARD_ROUNDS = 12
COVERAGE_ROUNDS = 8
GUARD_ESCALATIONS = 10
Progress = Callable[[str, int, int], None]


@dataclass
class ScrambleResult:
    panel: Panel
    plan: Plan
    gaps: list[Gap]
    guard: dict[str, Any]
    report: CheckReport | None  # None: not checked in memory (scramble(check=False)); the caller checks the files
    timings: dict[str, float] = field(default_factory=dict)
    coverage_rounds: int = 1  # the coverage rounds run (gaps say "not reached after N rounds")

    def _methods(self) -> dict[str, str]:
        methods = self.plan.describe()
        spec = self.panel.spec
        methods[spec.identifier] = "new_id: fresh meaningless sequence numbers, disjoint from the input's"
        if spec.source_identifier:
            methods[spec.source_identifier] = "source identifier: never read into the output, never published"
        for var in spec.data_variables:
            if not var.publish:
                methods[var.name] = f"{methods.get(var.name, 'drawn')} (not published)"
        return methods

    def manifest(self, seed: int, input_fingerprint: str) -> dict[str, Any]:
        return {"kind": "scrambled", "label": LABEL, "seed": seed, "input_fingerprint": input_fingerprint,
                "content_hash": content_hash(self.panel), "methods": self._methods(),
                "coverage_gaps": [g.to_dict() for g in self.gaps], "guard": self.guard,
                "violations": self.report.violations if self.report is not None else None, "timings_s": {k: round(v, 2) for k, v in self.timings.items()}}


def content_hash(panel: Panel) -> str:
    digest = hashlib.sha256()
    digest.update(panel.ids.tobytes())
    digest.update(panel.present.tobytes())
    for name in sorted(panel.static):
        digest.update(name.encode() + panel.static[name].tobytes())
    for name in sorted(panel.periodic):
        digest.update(name.encode() + panel.periodic[name].tobytes())
    return digest.hexdigest()


def scramble(spec: DatasetSpec, source: Panel, persons: int, seed: int, *, k: int | None = None,
             codelist_coverage: bool | None = None, progress: Progress | None = None,
             guard_index: guard_mod.GuardIndex | None = None, id_space: tuple[int, int] | None = None,
             input_ids: np.ndarray | None = None, check: bool = True) -> ScrambleResult:
    """Scramble ``source`` into ``persons`` fictitious persons. Raises UnsatisfiableError rather than return
    output that breaks a rule or equals an input person. When ``source`` is a part of the input (a dask
    partition): ``guard_index``, the whole input's person-periods to avoid (default: built from ``source``),
    ``id_space``, the [low, high) the new sequence numbers come from (default: all of it), and ``input_ids``,
    the input's ids in that space (default: ``source``'s). ``check=False`` leaves the independent check to
    the caller, who runs it on the written files (datasets.write_checked): the result's report is then None."""
    if persons < 1:
        raise UnsatisfiableError([Issue(code="bad-argument", message=f"--persons must be at least 1, got {persons}")])
    if source.n == 0 or not source.present.any():
        raise UnsatisfiableError([Issue(code="empty-input", message="the input holds no person")])
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5C4A]))
    order = draw_order(spec)
    plan = make_plan(spec, order, rng, code_counts(source))
    uniform = {v for b in plan.blocks if b.method == "fabricate" and b.source == "uniform" for v in b.variables}
    models = profile_models(source, uniform)
    sampler = Sampler(spec, models, order)
    anchor = anchors(source, persons, rng)
    out = Panel.empty(spec, persons)
    out.present = source.present[:, anchor].copy()
    low, high = id_space if id_space is not None else (SEQUENCE_LOW, SEQUENCE_HIGH)
    out.ids = new_sequence_numbers(persons, rng, exclude=source.ids if input_ids is None else input_ids,
                                   low=low, high=high)
    model_samples = None
    if any(b.method == "model" for b in plan.blocks):
        from scrambler.scramble.sdv_model import ModelSampler

        model_samples = ModelSampler(spec, source, seed)
    proposals = MethodProposals(spec, source, plan, anchor, rng, model_samples, output=out)
    timings["prepare"] = time.perf_counter() - clock
    clock = time.perf_counter()
    T = len(spec.panel.periods)
    # the guard's index of the input and the input's category counts read the input only, and no draw needs
    # them: built on the second core while the first draws (5 s of hashing and sorting a 1,000,000-person
    # input that the run otherwise waited for after the draw); neither uses the generator, so the output is
    # the same as when built after. Above OVERLAP_PERSONS input persons, after the draw as before: at 7.5
    # million the index's temporaries beside the draw's donor pools raised the peak, and the draw slowed.
    def input_index() -> tuple[guard_mod.GuardIndex, CoverageCounts]:
        return (guard_mod.with_templates(guard_index, source) if guard_index is not None
                else guard_mod.build_index(source), CoverageCounts.of(source))

    pending = Background(input_index) if source.n <= OVERLAP_PERSONS else None
    for t in range(T):

        def backtrack(rows: np.ndarray, t: int = t) -> None:
            _backtrack(out, sampler, proposals, plan, rng, rows, t)

        sampler.draw_period(out, t, rng, proposals=proposals, on_dead=backtrack)
        proposals.finish_period(t)
        if progress:
            progress("scramble", t + 1, T)
    proposals.finish_period(T)  # past the last period: drops the last donors too
    timings["draw"] = time.perf_counter() - clock
    clock = time.perf_counter()
    # counts: the input's category counts, computed once, they never change
    index, counts = pending.result() if pending is not None else input_index()
    timings["input_index_wait"] = time.perf_counter() - clock
    k = k if k is not None else spec.scramble.coverage_k
    codelist = codelist_coverage if codelist_coverage is not None else spec.scramble.coverage_codelist
    clock = time.perf_counter()
    gaps: list[Gap] = []
    guard_info: dict[str, Any] = {}
    for round_ in range(COVERAGE_ROUNDS):
        out.touched = np.zeros(out.n, dtype=bool)
        ensure_coverage(source, out, sampler, rng, k, codelist, wanted=counts.blocks, wanted_combos=counts.tuples)
        rewritten = np.nonzero(out.touched)[0]
        out.touched = None
        # the first round guards every person (the draw itself is unguarded); later rounds only those that
        # coverage rewrote since the last guard
        recheck = None if round_ == 0 else rewritten
        guard_info = guard_mod.merge_figures(guard_info, _guard(index, source, out, sampler, plan, proposals, rng,
                                                                recheck))
        # a whole-person redraw for one category, or the guard's redraws, may have taken another below k:
        # what stands now is what gets reported; go on while rounds still close gaps
        before = len(gaps) if gaps else None
        gaps = shortfalls(spec, counts, CoverageCounts.of(out), k, codelist)
        if not gaps or (before is not None and len(gaps) >= before):
            break
    # the counts as the last round left them (which codes the input holds: read only when there is a gap)
    gaps = explain_gaps(spec, gaps, input_codes(source), round_ + 1) if gaps else gaps
    # the guard rechecked only what each round rewrote: one last look at every person-period, so that no
    # equal person-period can slip through whatever the bookkeeping
    still = guard_mod.remaining(index, out)
    if still:
        # a rewrite the bookkeeping missed: one full guard pass over every person, then the gaps as they now
        # stand (the guard's redraws may take a category below k again; the manifest then says so)
        guard_info = guard_mod.merge_figures(guard_info, _guard(index, source, out, sampler, plan, proposals, rng))
        gaps = stated_gaps(spec, counts, CoverageCounts.of(out), k, codelist, input_codes(source), round_ + 1)
        still = guard_mod.remaining(index, out)
    if still:
        raise UnsatisfiableError([Issue(code="real-situation", message="; ".join(still) + "; nothing was written "
                                        "(declare fewer quasi-identifiers or more scrambling)")])
    # beside the guard's figures, a held-out slice of real persons measured the same way: the yardstick
    guard_info["outsider"] = outsider.figures(index, source, out, guard_info, seed)
    timings["coverage_and_guard"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if check:
        report: CheckReport | None = independent_check(out)
    else:
        out.observed = published_observation(out)  # what the tables will show, as independent_check sets it
        report = None
    timings["check"] = time.perf_counter() - clock
    return ScrambleResult(panel=out, plan=plan, gaps=gaps, guard=guard_info, report=report, timings=timings,
                          coverage_rounds=round_ + 1)


def independent_check(out: Panel) -> CheckReport:
    """The last stage of both engines: the rules checked again on what the tables will show, as a reader of
    them would; raises rather than return data that break one (the written files are checked once more by
    write_dataset(verify=True) before anything is published)."""
    out.observed = published_observation(out)
    report = check(out.spec, out)
    if not report.ok:
        raise UnsatisfiableError([Issue(code="check-failed", message="the scrambled data failed the independent "
                                        "check; nothing was written:\n" + report.format_text())])
    return report


def _backtrack(out: Panel, sampler: Sampler, proposals: MethodProposals, plan: Plan, rng: np.random.Generator,
               rows: np.ndarray, t: int, attempts: int = 20) -> None:
    """Persons with no valid value at period t: redraw their whole trajectory up to t, proposing only the
    skeleton (`keep` variables), so statics and persistent values are drawn to fit every period."""

    def skeleton(var: str, tt: int, sub: np.ndarray, frame: Any, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray] | None:
        return proposals(var, tt, sub, frame, rng) if plan.method_of[var].method == "keep" else None

    rows = np.sort(rows)
    for _ in range(attempts):
        failed: list[np.ndarray] = []
        for s, live in _redraw_plan(out, rows, t):
            sampler.draw_period(out, s, rng, rows=live, proposals=skeleton, on_dead=failed.append)
        if not failed:
            return
        # a person dead at any period redrawn (not only t) is redrawn whole again: nulls left in an earlier
        # period would otherwise surface only in the final check
        rows = np.unique(np.concatenate(failed))
    for s, live in _redraw_plan(out, rows, t):  # the last try raises at the first period still dead
        sampler.draw_period(out, s, rng, rows=live, proposals=skeleton)


def _redraw_plan(out: Panel, rows: np.ndarray, t: int) -> list[tuple[int, np.ndarray]]:
    """The (period, rows) to redraw for a trajectory up to t, with their old values cleared first: a value
    left from the failed draw would otherwise bind the redraw (a temporal rule reads the next period too, a
    rule with a static reads the stale static before it is redrawn)."""
    plan = []
    for s in range(t + 1):
        live = rows[out.present[:s + 1, rows].any(axis=0)] if s < t else rows
        if len(live):
            plan.append((s, live))
            for values in out.periodic.values():
                values[s, live] = -1 if values.dtype.kind != "f" else np.nan
    ever = rows[out.present[:t + 1, rows].any(axis=0)]
    for values in out.static.values():
        values[ever] = -1 if values.dtype.kind != "f" else np.nan
    return plan


def _guard(index: guard_mod.GuardIndex, source: Panel, out: Panel, sampler: Sampler, plan: Plan,
           proposals: MethodProposals, rng: np.random.Generator, rows: np.ndarray | None = None) -> dict[str, Any]:
    """Redraw person-periods equal to an input person-period (of ``rows``; default every person): first a
    growing share of the period's variables, then, for persons that still collide, their whole trajectory
    (statics included) with only the skeleton proposed. Raises rather than leave a collision."""
    spec = out.spec
    T = len(out.periods)
    hits, copies, rare = guard_mod.scan(index, out, rows)
    initial = {t: len(h) for t, h in hits.items()}
    rounds = escalations = path_redraws = 0
    persons = np.nonzero(out.present.any(axis=0))[0] if rows is None else rows
    paths_before, rare_before = len(copies), len(rare)
    perturbed = [n for n in index.path if plan.method_of[n].method == "perturb"]
    for escalation in range(GUARD_ESCALATIONS):
        redrawn = np.unique(np.concatenate([persons[:0], *hits.values()]))
        for t in range(T):
            r, hits[t] = _guard_period(index, out, sampler, plan, rng, t, hits[t])
            rounds = max(rounds, r)
        # a near-copy of a real numeric path: moved as a whole by new perturbation shifts (the persons whose
        # periods were just redrawn are checked too). The first time, only those are looked at again: the
        # others' paths and tuples are as the counts before the loop found them (a full pass over 200,000
        # persons' paths cost ~2.5 s)
        if escalation == 0:
            again = np.intersect1d(redrawn, persons)
            copies = np.union1d(np.setdiff1d(copies, again), guard_mod.path_copies(index, out, again))
            rare = np.union1d(np.setdiff1d(rare, again), guard_mod.rare_reproductions(index, out, again))
        else:
            copies = guard_mod.path_copies(index, out, persons)
            rare = guard_mod.rare_reproductions(index, out, persons)
        # new shifts move only perturbed paths: a near-copy of a swapped or drawn path (a constant FTE taken
        # from the model, matched by 3 real persons) gets its path variables drawn afresh instead, then, if it
        # persists, a whole-person redraw; spending every other escalation on shifts that cannot move it left
        # 1 person in 5 of 10 runs at 12,000 persons
        movable = guard_mod.path_copies(index, out, copies, perturbed)
        unmovable = np.setdiff1d(copies, movable)
        if (len(copies) or len(rare)) and escalation % 2 == 0:  # alternating with whole-person redraws
            # a near-copy of a real path moves as a whole, by new perturbation shifts; a tuple of a
            # quasi-identifier combination rarer than k takes the statics of an input person without one
            # (rows that cannot are put back and escalate below)
            path_redraws += len(copies)
            _redraw_paths(out, sampler, proposals, plan, rng, movable)
            # a swapped or drawn path: its numbers drawn afresh, every other value kept where the rules allow
            # (a whole-person redraw drew the position too, from the pooled model: near-copies are mostly
            # employed persons' FTE paths, and redrawing ~8% of persons whole took the most common position
            # from 54% of the input to 52% of the output in every period)
            _redraw_paths(out, sampler, proposals, plan, rng, unmovable, fresh=frozenset(index.path) - set(perturbed))
            rare = np.setdiff1d(rare, movable)
            if len(rare) and len(index.templates):
                redraw_persons(out, sampler, rng, rare, {}, source,
                               index.templates[rng.integers(0, len(index.templates), len(rare))])
            # their periods changed: the next escalation rechecks them (periods, paths, tuples), together with
            # the rows the period rounds left colliding (dropping those would leave them to a second full pass)
            changed = np.union1d(copies, rare)  # the unmovable copies too: the next escalation redraws them
            left = np.unique(np.concatenate(list(hits.values()))).astype(changed.dtype)
            hits = {t: guard_mod.collisions(index, out, t, np.union1d(hits[t], changed[out.present[t, changed]]))
                    for t in range(T)}
            persons = np.union1d(changed, left)
            continue
        stuck = np.unique(np.concatenate([*hits.values(), copies, rare]))
        if len(stuck) == 0:
            break
        escalations += 1
        _backtrack(out, sampler, proposals, plan, rng, stuck, T - 1)
        # only the redrawn persons can collide anew: recheck them, not the whole output
        hits = {t: guard_mod.collisions(index, out, t, stuck[out.present[t, stuck]]) for t in range(T)}
        persons = stuck
    left = guard_mod.remaining(index, out, persons)
    if left:
        raise UnsatisfiableError([Issue(code="real-situation", message="; ".join(left) + f" after "
                                        f"{GUARD_ESCALATIONS} escalations; nothing was written (declare fewer "
                                        "quasi-identifiers or more scrambling)")])
    label = {spec.panel.periods[t]: n for t, n in initial.items()}
    return {"quasi_identifiers": "all" if spec.scramble.guard_quasi_identifiers is None
            else list(spec.scramble.guard_quasi_identifiers), "k": spec.scramble.guard_k,
            "collisions_before": {str(p): n for p, n in label.items()}, "collisions_after": 0,
            "rounds": rounds, "whole_person_redraws": escalations,
            "tolerance": {n: round(v, 6) for n, v in index.tolerance.items()},
            "path_copies_before": paths_before, "path_copies_after": 0, "path_redraws": path_redraws,
            "combinations": [list(c) for c, _ in index.combos], "rare_tuples_before": rare_before,
            "rare_tuples_after": 0,
            "input_rare_combinations": {str(spec.panel.periods[t]): n for t, n in index.rare.items()}}


def _redraw_paths(out: Panel, sampler: Sampler, proposals: MethodProposals, plan: Plan,
                  rng: np.random.Generator, persons: np.ndarray, fresh: frozenset[str] = frozenset()) -> None:
    """Redraw every period of these persons with new perturbation shifts: perturbed variables proposed
    afresh from the anchor, the ``fresh`` ones drawn anew (no proposal), every other value kept where the
    rules still allow it."""
    if len(persons) == 0:
        return
    persons = np.sort(persons)
    proposals.renew_shifts(persons, rng)
    saved = {n: v[:, persons].copy() for n, v in out.periodic.items()}

    def propose(var: str, tt: int, sub: np.ndarray, frame: Any, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray] | None:
        if plan.method_of[var].method == "perturb":
            return proposals(var, tt, sub, frame, rng)
        if var in fresh:
            return None
        pos = np.searchsorted(persons, sub)
        values = out.static[var][sub] if var in out.static else saved[var][tt, pos]
        return values, np.ones(len(sub), dtype=bool)

    saved_static = {n: v[persons].copy() for n, v in out.static.items()}
    failed: list[np.ndarray] = []
    for t in range(len(out.periods)):
        live = persons[out.present[:t + 1, persons].any(axis=0)]
        if len(live):
            sampler.draw_period(out, t, rng, rows=live, proposals=propose, on_dead=failed.append)
    if failed:  # put back exactly: they stay near-copies, and the guard escalates to a whole-person redraw
        back = np.isin(persons, np.concatenate(failed))
        for n, v in saved_static.items():
            out.static[n][persons[back]] = v[back]
        for n, v in saved.items():
            out.periodic[n][:, persons[back]] = v[:, back]


def _guard_period(index: guard_mod.GuardIndex, out: Panel, sampler: Sampler, plan: Plan,
                  rng: np.random.Generator, t: int, hit: np.ndarray) -> tuple[int, np.ndarray]:
    """Redraw the colliding rows ``hit`` of period t, a growing share of their variables each round; each round
    rechecks only the rows it redrew. Returns the rounds used and the rows still colliding."""
    redrawable = [n for n in index.names[t] if n in out.periodic and plan.method_of[n].method != "keep"]
    rounds = 0
    for r in range(GUARD_ROUNDS):
        if len(hit) == 0 or not redrawable:
            break
        rounds = r + 1
        share = min(1.0, (r + 2) / len(redrawable))
        fresh = {n: rng.random(len(hit)) < share for n in redrawable}
        saved = {n: v[t, hit].copy() for n, v in out.periodic.items()}

        def propose(var: str, tt: int, sub: np.ndarray, frame: object, rng: object,
                    hit: np.ndarray = hit, fresh: dict[str, np.ndarray] = fresh,
                    saved: dict[str, np.ndarray] = saved) -> tuple[np.ndarray, np.ndarray]:
            pos = np.searchsorted(hit, sub)
            values = out.static[var][sub] if var in out.static else saved[var][pos]
            has = ~fresh[var][pos] if var in fresh else np.ones(len(sub), dtype=bool)
            return values, has

        dead: list[np.ndarray] = []
        sampler.draw_period(out, t, rng, rows=hit, proposals=propose, first=np.zeros(len(hit), dtype=bool),
                            on_dead=dead.append)
        if dead:  # no value left between the periods around t (a rule reading previous()): put back, try again
            back = np.isin(hit, np.concatenate(dead))
            for n, v in out.periodic.items():
                v[t, hit[back]] = saved[n][back]
        hit = guard_mod.collisions(index, out, t, hit)
    return rounds, hit
