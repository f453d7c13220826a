"""Redrawing what the draw got wrong: persons left with no valid value (backtracking their trajectory) and
person-periods or paths that depict a real situation (the guard's redraws, a doubling share of variables
first, whole persons last). The pipeline calls these; they change the output panel in place."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.errors import Issue, UnsatisfiableError
from scrambler.panel import Panel, null_of
from scrambler.sampling import Sampler
from scrambler.scramble import guard as guard_mod
from scrambler.scramble.moves import redraw_persons
from scrambler.scramble.plan import Plan
from scrambler.scramble.proposals import MethodProposals

GUARD_ROUNDS = 12
GUARD_ESCALATIONS = 10


def backtrack(out: Panel, sampler: Sampler, proposals: MethodProposals, plan: Plan, rng: np.random.Generator,
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
                values[s, live] = null_of(values)
    ever = rows[out.present[:t + 1, rows].any(axis=0)]
    for values in out.static.values():
        values[ever] = null_of(values)
    return plan


def guard(index: guard_mod.GuardIndex, source: Panel, out: Panel, sampler: Sampler, plan: Plan,
           proposals: MethodProposals, rng: np.random.Generator, rows: np.ndarray | None = None,
           flagged: list[np.ndarray] | None = None,
           scanned: tuple[dict[int, np.ndarray], np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """Redraw person-periods equal to an input person-period (of ``rows``; default every person): first a
    doubling share of the period's variables, then, for persons that still collide, their whole trajectory
    (statics included) with only the skeleton proposed. Raises rather than leave a collision. ``flagged``:
    given a list, the persons the first scan found are appended to it. ``scanned``: what guard_mod.scan
    gives for ``rows`` now, when the caller has it (see rescanned)."""
    spec = out.spec
    T = len(out.periods)
    hits, copies, rare = guard_mod.scan(index, out, rows) if scanned is None else scanned
    if flagged is not None:
        flagged.append(np.unique(np.concatenate([*(h.astype(np.int64) for h in hits.values()),
                                                 copies.astype(np.int64), rare.astype(np.int64)])))
    initial = {t: len(h) for t, h in hits.items()}
    rounds = escalations = path_redraws = 0
    persons = np.nonzero(out.present.any(axis=0))[0] if rows is None else rows
    paths_before, rare_before = len(copies), len(rare)
    perturbed = [n for n in index.path if plan.method_of[n].method == "perturb"]
    for escalation in range(GUARD_ESCALATIONS):
        redrawn = np.unique(np.concatenate([persons[:0], *hits.values()]))
        for t in range(T):
            r, hits[t] = guard_period(index, out, sampler, plan, rng, t, hits[t])
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
            redraw_paths(out, sampler, proposals, plan, rng, movable)
            # a swapped or drawn path: its numbers drawn afresh, every other value kept where the rules allow
            # (a whole-person redraw drew the position too, from the pooled model: near-copies are mostly
            # employed persons' FTE paths, and redrawing ~8% of persons whole took the most common position
            # from 54% of the input to 52% of the output in every period)
            redraw_paths(out, sampler, proposals, plan, rng, unmovable, fresh=frozenset(index.path) - set(perturbed))
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
        backtrack(out, sampler, proposals, plan, rng, stuck, T - 1)
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
            "input_rare_combinations": {str(spec.panel.periods[t]): n for t, n in index.rare_counts().items()}}


def redraw_paths(out: Panel, sampler: Sampler, proposals: MethodProposals, plan: Plan,
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


def guard_period(index: guard_mod.GuardIndex, out: Panel, sampler: Sampler, plan: Plan,
                  rng: np.random.Generator, t: int, hit: np.ndarray) -> tuple[int, np.ndarray]:
    """Redraw the colliding rows ``hit`` of period t, a doubling share of their variables each round; each round
    rechecks only the rows it redrew. Returns the rounds used and the rows still colliding."""
    redrawable = [n for n in index.names[t] if n in out.periodic and plan.method_of[n].method != "keep"]
    rounds = 0
    for r in range(GUARD_ROUNDS):
        if len(hit) == 0 or not redrawable:
            break
        rounds = r + 1
        # the share doubles each round (2, 4, 8, ... variables): growing by one variable a round, each round
        # freed only 10-15% of the rows still colliding, and the tail of twelve rounds over a few hundred
        # rows (~11 ms a call whatever the rows) was 0.4 s of a 200,000-person run; all redrawable variables
        # by the sixth round, then the rows left go to a whole-person redraw as before
        share = min(1.0, 2 ** (r + 1) / len(redrawable))
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


def rescanned(index: guard_mod.GuardIndex, out: Panel,
              earlier: tuple[dict[int, np.ndarray], np.ndarray, np.ndarray], rewritten: np.ndarray
              ) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """A full scan of every person from one made before ``rewritten`` were rewritten: their findings dropped,
    they are scanned again (the others hold what was scanned: the guard's index never changes)."""
    hits, copies, rare = earlier
    new_hits, new_copies, new_rare = guard_mod.scan(index, out, rewritten)

    def merged(old: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.union1d(np.setdiff1d(old, rewritten), new).astype(old.dtype, copy=False)

    return {t: merged(h, new_hits[t]) for t, h in hits.items()}, merged(copies, new_copies), merged(rare, new_rare)
