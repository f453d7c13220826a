"""scramble(): from an input panel to a scrambled panel that keeps every rule, covers every category and
depicts no real situation - checked independently before anything is returned."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from scrambler.check import CheckReport, check
from scrambler.decode import OVERLAP_PERSONS
from scrambler.errors import Issue, UnsatisfiableError
from scrambler.identifiers import SEQUENCE_HIGH, SEQUENCE_LOW, new_sequence_numbers
from scrambler.memory import give_back, lean_heap
from scrambler.panel import Panel, differs
from scrambler.sampling import Sampler
from scrambler.sampling.sampler import draw_order
from scrambler.scramble import guard as guard_mod
from scrambler.scramble import outsider, parts, redraws, remnant
from scrambler.scramble.background import Background
from scrambler.scramble.cover import CoverageCounts, ensure_coverage, shortfalls, stated_gaps
from scrambler.scramble.donors import anchors
from scrambler.scramble.gaps import Gap, explain_gaps, input_codes
from scrambler.scramble.guard_index import build_index
from scrambler.scramble.plan import Plan, code_counts, make_plan
from scrambler.scramble.profile import profile_models
from scrambler.scramble.proposals import MethodProposals
from scrambler.spec.model import DatasetSpec
from scrambler.tables import published_observation

LABEL = "scrambled data: depicts no real situation"
COVERAGE_ROUNDS = 8
#: up to this many bytes of output panel, the state each coverage round starts from is copied, so that a
#: round that loses ground can be undone: one more copy, only when a round left gaps (small outputs, where
#: rounds lose ground; 500,000 persons of 5 periods and ~270 variables hold 0.2 GB)
KEEP_ROUND_BYTES = 1_000_000_000
#: the draw reads a random sample of the input's persons, this many times the output's (never fewer than
#: WORK_MIN): see working_sample
WORK_FACTOR = 2
WORK_MIN = 50_000
#: threads building the guard's index of a large input while the run waits for it (see scramble)
INDEX_THREADS = 2
Progress = Callable[[str, int, int], None]


@dataclass
class InputCounts:
    """What the scramble counted of its input, handed to the reports so that they do not count a large input
    again (at 7.5 million persons ~5 s for the blocks, ~7.5 s for the person-periods' hashes): the category
    counts per table block (``coverage.block_counts`` of the input) and, per period with guarded variables,
    the guard's sorted distinct hashes of the input's person-periods with whether fewer than k hold each."""

    blocks: dict[Any, np.ndarray]
    known: dict[int, tuple[np.ndarray, np.ndarray]]
    # the input's persons and person-periods (None: the reports count the panel they are given)
    persons: int | None = None
    person_periods: int | None = None


@dataclass
class ScrambleResult:
    panel: Panel
    plan: Plan
    gaps: list[Gap]
    guard: dict[str, Any]
    report: CheckReport | None  # None: not checked in memory (scramble(check=False)); the caller checks the files
    timings: dict[str, float] = field(default_factory=dict)
    coverage_rounds: int = 1  # the coverage rounds run (gaps say "not reached after N rounds")
    # the reports' input counts (see InputCounts); None where not counted here
    input_counts: InputCounts | None = None
    # a handed-over input cut down to its remnant: the row numbers it had of the persons it still holds
    input_rows: np.ndarray | None = None

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


def work_size(persons: int) -> int:
    """How many input persons the draw reads at most (see working_sample)."""
    return max(WORK_FACTOR * persons, WORK_MIN)


def working_sample(source: Panel, persons: int, seed: int) -> Panel:
    """What the draw reads: the input, or, when it holds more than WORK_FACTOR times the output's persons
    (and more than WORK_MIN), a simple random sample of that many of its persons. The output's anchors,
    donors, models and perturbation starts come from it; the guard's index, the category counts coverage
    aims at, coverage's templates for rare categories and the identifiers to avoid still come from the whole
    input. Why: a draw of 100,000 persons from 1,000,000 spent ~4 s of its ~8 s grouping and counting every
    input person for donor pools and rare tuples, where a sample of twice the output gives every stratum an
    output person can fall in as many donors as the output needs, in the same proportions up to sampling
    error; categories the sample misses are coverage's job, which reads the whole input. The sample depends
    on the seed and the sizes only (a generator of its own, so the run's generator is unchanged)."""
    size = work_size(persons)
    if source.n <= size:
        return source
    return source.sample(size, seed, 0x5A3B)


def content_hash(panel: Panel) -> str:
    digest = hashlib.sha256()
    digest.update(panel.ids.tobytes())
    digest.update(panel.present.tobytes())
    # numbers hashed as float64 whatever their dtype (time values are float32, see panel.TIME_DTYPE): equal
    # values give the hash they gave before, so runs stay comparable across that change
    for name in sorted(panel.static):
        digest.update(name.encode() + _hashed(panel.static[name]))
    for name in sorted(panel.periodic):
        digest.update(name.encode() + _hashed(panel.periodic[name]))
    return digest.hexdigest()


def _hashed(values: np.ndarray) -> bytes:
    return (values.astype(np.float64) if values.dtype == np.float32 else values).tobytes()


def scramble(spec: DatasetSpec, source: Panel, persons: int, seed: int, *, k: int | None = None,
             codelist_coverage: bool | None = None, progress: Progress | None = None,
             guard_index: guard_mod.GuardIndex | None = None, id_space: tuple[int, int] | None = None,
             input_ids: np.ndarray | None = None, check: bool = True, processes: int = 1,
             hand_over: np.ndarray | None = None) -> ScrambleResult:
    """Scramble ``source`` into ``persons`` fictitious persons. Raises UnsatisfiableError rather than return
    output that breaks a rule or equals an input person. When ``source`` is a part of the input (a dask
    partition): ``guard_index``, the whole input's person-periods to avoid (default: built from ``source``),
    ``id_space``, the [low, high) the new sequence numbers come from (default: all of it), and ``input_ids``,
    the input's ids in that space (default: ``source``'s). ``check=False`` leaves the independent check to
    the caller, who runs it on the written files (datasets.write_checked): the result's report is then None.
    ``processes``: up to how many processes may draw (2: the second half of the persons in a forked child
    where that pays; the output is the same for any value). ``hand_over``: the caller gives up ``source``
    but for these of its rows: an input of more than remnant.REMNANT_MIN persons that the draw reads whole
    is then cut down in place once the draw is over (remnant); the result's ``input_rows`` says which
    persons it still holds."""
    if persons < 1:
        raise UnsatisfiableError([Issue(code="bad-argument", message=f"--persons must be at least 1, got {persons}")])
    if source.n == 0 or not source.present.any():
        raise UnsatisfiableError([Issue(code="empty-input", message="the input holds no person")])
    # the draw's state grows with the output (its donors, pools and shifts; the output panel): from a large
    # output on, its arrays get pages of their own (reading a large input for a small output stays as fast)
    lean_heap(persons)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5C4A]))
    order = draw_order(spec)
    plan = make_plan(spec, order, rng, code_counts(source))
    # the guard's index of the input and the input's category counts read the input only, and no draw needs
    # them: built on the second core while the first prepares and draws (5 s of hashing and sorting a
    # 1,000,000-person input that the run otherwise waited for after the draw); neither uses the generator,
    # so the output is the same as when built after. Started here, before the ~1 s of preparing, unless the
    # draw will fork (a thread must not run at a fork: then it starts once the child is forked). Above
    # OVERLAP_PERSONS input persons, after the draw unless the draw reads a sample of at most that many: at
    # 7.5 million the index's temporaries beside donor pools of every input person raised the peak, and the
    # draw slowed. ``sampled``: the draw reads a sample (working_sample) of at most OVERLAP_PERSONS.
    sampled = work_size(persons) < min(source.n, OVERLAP_PERSONS + 1)

    def input_index() -> tuple[guard_mod.GuardIndex, CoverageCounts]:
        if guard_index is not None:
            return guard_mod.with_templates(guard_index, source), CoverageCounts.of(source)
        if source.n <= OVERLAP_PERSONS or not sampled:
            return build_index(source), CoverageCounts.of(source)
        # a large input whose draw reads a sample: the draw is over in seconds and the run waits for the index
        # (64 s and the counts 12 s at 7.5 million persons, on one core): periods, paths and counts side by
        # side. Not beside a draw that takes the other core (1,000,000 -> 100,000 prepared 1 s slower), nor
        # for a draw of every input person (its peak)
        with ThreadPoolExecutor(1) as pool:
            counting = pool.submit(CoverageCounts.of, source)
            return build_index(source, INDEX_THREADS), counting.result()

    modelled = any(b.method == "model" for b in plan.blocks)
    part_rows = parts.split(persons, source.n, forkable=not modelled)
    # a large input handed over and drawn whole: what the later stages read of all of it is made first (the
    # index, the counts, the held-out slice, the remnant's rows), so that it is cut down after the draw
    taken = (remnant.take(source, hand_over, seed, INDEX_THREADS) if hand_over is not None and guard_index is None
             and not modelled and source.n > remnant.REMNANT_MIN and work_size(persons) >= source.n else None)
    fork = processes > 1 and len(part_rows) > 1 and parts.can_fork()
    pending: Background | None = None

    def started() -> None:  # after any fork: the child must not inherit a running thread
        nonlocal pending
        if pending is None and taken is None and (source.n <= OVERLAP_PERSONS or sampled):
            pending = Background(input_index)

    if not fork:
        started()
    work = working_sample(source, persons, seed)
    uniform = {v for b in plan.blocks if b.method == "fabricate" and b.source == "uniform" for v in b.variables}
    models = profile_models(work, uniform)
    sampler = Sampler(spec, models, order)
    anchor = anchors(work, persons, rng)
    out = Panel.empty(spec, persons, unfilled=True)  # each period filled as its draw starts (start_period)
    out.present = work.present[:, anchor].copy()
    low, high = id_space if id_space is not None else (SEQUENCE_LOW, SEQUENCE_HIGH)
    out.ids = new_sequence_numbers(persons, rng, exclude=source.ids if input_ids is None else input_ids,
                                   low=low, high=high)
    model_samples = None
    if modelled:
        from scrambler.scramble.sdv_model import ModelSampler

        model_samples = ModelSampler(spec, work, seed)
    proposals = MethodProposals(spec, work, plan, anchor, rng, model_samples, output=out)
    timings["prepare"] = time.perf_counter() - clock
    clock = time.perf_counter()
    T = len(spec.panel.periods)
    # the draw in parts (scramble.parts, split above): one part keeps the run's generator; two have one each,
    # drawn in a forked process beside this one when ``processes`` allows it (the same output either way)
    part_rngs = ([rng] if len(part_rows) == 1 else
                 [np.random.default_rng(s) for s in rng.integers(0, 2**63 - 1, size=len(part_rows))])
    proposals.prepare_shifts(order)

    def draw(p: int, t: int) -> None:
        def backtrack(rows: np.ndarray) -> None:
            redraws.backtrack(out, sampler, proposals, plan, part_rngs[p], rows, t)

        rows = None if len(part_rows) == 1 else part_rows[p]
        out.start_period(t, None if rows is None else slice(rows[0], rows[-1] + 1))  # a part's rows are contiguous
        sampler.draw_period(out, t, part_rngs[p], rows=rows, proposals=proposals, on_dead=backtrack)

    if fork:
        parts.share(out)
    parts.draw_parts(len(part_rows), T, draw, proposals.finish_period, fork, started,
                     progress=(lambda t: progress("scramble", t + 1, T)) if progress else None)
    proposals.finish_period(T)  # past the last period: drops the last donors too
    out.end_first_draw()  # every period was started (and drawn) in this process
    give_back(max(source.n, out.n))  # the draw's working copies: the guard's stage needs the room
    timings["draw"] = time.perf_counter() - clock
    clock = time.perf_counter()
    # counts: the input's category counts, computed once, they never change
    if taken is not None:
        input_persons, input_person_periods = taken.persons, taken.person_periods
        index, counts = remnant.cut(source, taken, proposals, plan), taken.counts
        held_out = Background(lambda: taken.held_out)
    else:
        input_persons, input_person_periods = source.n, int(source.present.sum())
        index, counts = pending.result() if pending is not None else input_index()
        # the yardstick's real outsiders, measured against the whole input beside coverage's first round
        held_out = Background(partial(outsider.held_out, index, source, seed))
    timings["input_index_wait"] = time.perf_counter() - clock
    k = k if k is not None else spec.scramble.coverage_k
    codelist = codelist_coverage if codelist_coverage is not None else spec.scramble.coverage_codelist
    clock = time.perf_counter()
    gaps: list[Gap] = []
    guard_info: dict[str, Any] = {}
    before_guard: _Snapshot | None = None
    flagged: list[np.ndarray] = []
    kept: tuple[_Snapshot, list[Gap], dict[str, Any]] | None = None
    for round_ in range(COVERAGE_ROUNDS):
        if gaps and _Snapshot.size(out) <= KEEP_ROUND_BYTES:
            # a later round may lose ground (a whole-person redraw for one category takes another below k; a
            # 100-person output of a small spec went 37 -> 40 gaps): what the last round left, guarded, to go
            # back to
            kept = (_Snapshot(out), gaps, guard_info)
        out.touched = np.zeros(out.n, dtype=bool)
        early: Background | None = None
        if round_ == 0 and out.n <= OVERLAP_PERSONS:
            # the first round guards every person (the draw itself is unguarded). Its full scan reads the
            # panel only, so it runs on the second core while coverage rewrites a few persons on the first;
            # those are scanned again after (1.2 s of a 200,000-person run). What it reads is kept for the
            # last look below (which rereads every person whose values differ from it, bookkeeping or not)
            before_guard = _Snapshot(out)
            early = Background(partial(guard_mod.scan, index, out))
        ensure_coverage(source, out, sampler, rng, k, codelist, wanted=counts.blocks, wanted_combos=counts.tuples)
        rewritten = np.nonzero(out.touched)[0]
        out.touched = None
        # later rounds guard only those coverage rewrote since the last guard
        recheck = None if round_ == 0 else rewritten
        scanned = None if early is None else redraws.rescanned(index, out, early.result(), rewritten)
        guard_info = guard_mod.merge_figures(guard_info, redraws.guard(
            index, source, out, sampler, plan, proposals, rng, recheck, flagged if round_ == 0 else None, scanned))
        # a whole-person redraw for one category, or the guard's redraws, may have taken another below k:
        # what stands now is what gets reported; go on while rounds still close gaps
        before = len(gaps) if gaps else None
        gaps = shortfalls(spec, counts, CoverageCounts.of(out), k, codelist)
        if not gaps or (before is not None and len(gaps) >= before):
            if kept is not None and before is not None and len(gaps) > before:
                kept[0].restore(out)  # the round before, as its guard left it; the last look below rereads it
                gaps, guard_info = kept[1], kept[2]
            break
    # the counts as the last round left them (which codes the input holds: read only when there is a gap)
    gaps = explain_gaps(spec, gaps, input_codes(source), round_ + 1) if gaps else gaps
    # the guard rechecked only what each round rewrote: one last look, so that no equal person-period can slip
    # through whatever the bookkeeping. It reads every person whose values differ from those the first full
    # scan read (found by comparing the arrays, not by the bookkeeping), and every person that scan flagged:
    # any other person holds what was found clean (the guard's index never changes). A full pass cost 1.1 s
    # of a 200,000-person run; above OVERLAP_PERSONS (no copy of the panel kept) every person is read.
    look = None if before_guard is None else np.union1d(before_guard.changed(out), flagged[0])
    # beside the guard's figures, a held-out slice of real persons measured the same way: the yardstick. It
    # reads what the last look reads and changes nothing, so it runs beside it on a thread (0.4 s of a
    # 200,000-person run); redone below if the last look finds anything
    yardstick = Background(partial(outsider.figures, held_out.result(), index, out, dict(guard_info)))
    still = guard_mod.remaining(index, out, look)
    figures = yardstick.result()  # before anything below rewrites the panel it reads
    if still:
        # a rewrite the bookkeeping missed: one full guard pass over every person, then the gaps as they now
        # stand (the guard's redraws may take a category below k again; the manifest then says so)
        guard_info = guard_mod.merge_figures(guard_info, redraws.guard(index, source, out, sampler, plan, proposals, rng))
        gaps = stated_gaps(spec, counts, CoverageCounts.of(out), k, codelist, input_codes(source), round_ + 1)
        still = guard_mod.remaining(index, out)
        figures = outsider.figures(held_out.result(), index, out, guard_info)
    if still:
        raise UnsatisfiableError([Issue(code="real-situation", message="; ".join(still) + "; nothing was written "
                                        "(declare fewer quasi-identifiers or more scrambling)")])
    guard_info["outsider"] = figures
    give_back(max(input_persons, out.n))
    timings["coverage_and_guard"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if check:
        report: CheckReport | None = independent_check(out)
    else:
        out.observed = published_observation(out)  # what the tables will show, as independent_check sets it
        report = None
    timings["check"] = time.perf_counter() - clock
    return ScrambleResult(panel=out, plan=plan, gaps=gaps, guard=guard_info, report=report, timings=timings,
                          coverage_rounds=round_ + 1,
                          input_counts=InputCounts(counts.blocks, {t: (index.known[t], index.known_rare[t])
                                                                   for t in index.known},
                                                   input_persons, input_person_periods),
                          input_rows=None if taken is None else taken.kept)


class _Snapshot:
    """A copy of a panel's values and presence, to find later which persons changed."""

    def __init__(self, panel: Panel) -> None:
        self.present = panel.present.copy()
        self.static = {n: v.copy() for n, v in panel.static.items()}
        self.periodic = {n: v.copy() for n, v in panel.periodic.items()}

    @staticmethod
    def size(panel: Panel) -> int:
        """The bytes a snapshot of ``panel`` takes."""
        return panel.present.nbytes + sum(v.nbytes for v in (*panel.static.values(), *panel.periodic.values()))

    def restore(self, panel: Panel) -> None:
        """Put the copied presence and values back into the panel's own arrays."""
        panel.present[...] = self.present
        for name, old in self.static.items():
            panel.static[name][...] = old
        for name, old in self.periodic.items():
            panel.periodic[name][...] = old

    def changed(self, panel: Panel) -> np.ndarray:
        """The persons whose presence or any value differs now (NaN equal to NaN)."""
        changed = (panel.present != self.present).any(axis=0)
        for name, old in self.static.items():
            changed |= differs(panel.static[name], old)
        for name, old in self.periodic.items():
            changed |= differs(panel.periodic[name], old).any(axis=0)
        return np.nonzero(changed)[0]


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
