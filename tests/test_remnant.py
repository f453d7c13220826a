"""A large input handed over to the scramble is compacted, once its guard's index is built, to what the later
stages read (scramble.remnant): every holder of a rare value, at least one holder of every value, a random
sample, the caller's rows. The thresholds are lowered so that a small population takes that path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scrambler.coverage import block_counts
from scrambler.population import generate_population
from scrambler.scramble import guard_index, remnant, scramble
from scrambler.scramble.gaps import input_codes
from scrambler.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC_2024 = ROOT / "constraints" / "arbeidsreserve-24-130"
MINI_DIR = ROOT / "tests" / "fixtures" / "mini"


@pytest.fixture(scope="module")
def population():  # type: ignore[no-untyped-def]
    spec = load_spec(SPEC_2024)
    return spec, generate_population(spec, 8_000, seed=21)


def test_the_remnant_keeps_every_holder_of_a_rare_value_and_one_of_every_value(population, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spec, source = population
    monkeypatch.setattr(remnant, "REMNANT_SAMPLE", 300)
    monkeypatch.setattr(remnant, "RARE_HOLDERS", 15)
    keep = np.array([3, 77, 7_999])
    kept = remnant.kept_rows(source, keep, seed=4)
    assert np.all(np.diff(kept) > 0) and np.isin(keep, kept).all()
    assert len(kept) < source.n // 2, "the test needs a remnant smaller than its input"
    inside = np.zeros(source.n, dtype=bool)
    inside[kept] = True
    columns = [(v, source.static[v][None, :]) for v in source.static if spec.variables[v].is_categorical]
    columns += [(v, source.periodic[v]) for v in source.periodic if spec.variables[v].is_categorical]
    rare_seen = common_seen = 0
    for name, values in columns:
        for t in range(values.shape[0]):
            for code in np.unique(values[t][values[t] >= 0]):
                holders = values[t] == code
                if holders.sum() < 15:
                    assert inside[holders].all(), (name, t, code)
                    rare_seen += 1
                else:
                    assert inside[holders].any(), (name, t, code)
                    common_seen += 1
    assert rare_seen and common_seen
    # the declared combinations' rare tuples, counted independently (pandas), keep all their holders
    tuples_seen = 0
    for combo in spec.scramble.coverage_combinations:
        for t in range(len(source.periods)):
            frame = pd.DataFrame({v: source.values(v, t) for v in combo})
            frame = frame[(frame >= 0).all(axis=1) & source.present[t]]
            size = frame.groupby(list(combo))[combo[0]].transform("size")
            rare_rows = frame.index[size < 15].to_numpy()
            tuples_seen += len(rare_rows)
            assert inside[rare_rows].all(), (combo, t)
    assert tuples_seen
    # which codes the input holds reads the same on the remnant (the gaps' witness)
    assert input_codes(source.subset(kept)) == input_codes(source)


def test_a_handed_over_input_is_compacted_and_the_run_stays_valid(population, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spec, _ = population
    monkeypatch.setattr(remnant, "REMNANT_MIN", 1_000)
    monkeypatch.setattr(remnant, "REMNANT_SAMPLE", 800)
    monkeypatch.setattr(remnant, "RARE_HOLDERS", 15)
    whole_input = generate_population(spec, 8_000, seed=21)
    kept_whole = scramble(spec, whole_input, 4_000, seed=9)  # not handed over: the input as it was
    assert kept_whole.input_rows is None and whole_input.n == 8_000
    source = generate_population(spec, 8_000, seed=21)
    keep = np.array([5, 4_321])
    result = scramble(spec, source, 4_000, seed=9, hand_over=keep)
    rows = result.input_rows
    assert rows is not None and np.isin(keep, rows).all()
    assert source.n == len(rows) < 8_000 // 2  # compacted in place, to the persons it says
    assert np.array_equal(source.ids, whole_input.ids[rows])
    for name, values in source.periodic.items():
        assert np.array_equal(values, whole_input.periodic[name][:, rows], equal_nan=values.dtype.kind == "f")
    # valid: every rule (the independent check), no person-period of any input person, sampled or not
    assert result.report is not None and result.report.ok
    assert scramble_guard_clean(whole_input, result.panel)
    # covered as the whole input asks: every category it holds at least min(k, its count) times
    k = spec.scramble.coverage_k
    wanted, have = block_counts(whole_input), block_counts(result.panel)
    assert result.gaps == kept_whole.gaps == []
    for key, counts in wanted.items():
        assert (have[key] >= np.minimum(k, counts)).all(), key
    # the counts and the yardstick's outsiders were measured on the whole input, before the compaction
    assert result.input_counts is not None and result.input_counts.persons == 8_000
    assert result.input_counts.person_periods == int(whole_input.present.sum())
    mine, theirs = result.guard["outsider"], kept_whole.guard["outsider"]
    for name in ("held_out_persons", "held_out_person_periods_within_tolerance_share", "held_out_path_copies_share"):
        assert mine[name] == theirs[name]
    closest = "closest_record_differing_quasi_identifiers"
    assert mine[closest]["held_out_median"] == theirs[closest]["held_out_median"]


def scramble_guard_clean(source, panel) -> bool:  # type: ignore[no-untyped-def]
    from scrambler.scramble import guard as guard_mod

    return guard_mod.remaining(guard_index.build_index(source), panel) == []


def test_a_sampled_draw_or_an_input_kept_by_the_caller_is_not_cut_down(mini_spec, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Only an input handed over (hand_over given) and drawn whole is cut down: a draw that reads a sample of
    the input proposes from that sample (a panel of its own), and a caller that keeps its input keeps it."""
    from scrambler.scramble import pipeline

    monkeypatch.setattr(remnant, "REMNANT_MIN", 1_000)
    monkeypatch.setattr(remnant, "REMNANT_SAMPLE", 300)
    monkeypatch.setattr(remnant, "RARE_HOLDERS", 5)
    monkeypatch.setattr(pipeline, "WORK_MIN", 200)
    source = generate_population(mini_spec, 3_000, seed=21)
    sampled = scramble(mini_spec, source, 300, seed=9, hand_over=np.array([1]))  # reads a sample of 600
    assert sampled.input_rows is None and source.n == 3_000
    kept = scramble(mini_spec, source, 1_500, seed=9)
    assert kept.input_rows is None and source.n == 3_000
    cut = scramble(mini_spec, source, 1_500, seed=9, hand_over=np.array([1]))  # the same run handed over
    assert cut.input_rows is not None and source.n == len(cut.input_rows) < 3_000


def test_a_spilled_index_reads_back_equal_and_leaves_no_file(population, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The guard's index waits out the draw in an unnamed temporary file: it reads back field by field equal,
    and no file of it is ever visible in the temporary folder (nothing is left if the run is killed)."""
    import dataclasses
    import tempfile

    from scrambler.memory import Spilled

    spec, source = population
    index = guard_index.build_index(source)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spilled = Spilled(index)
    assert list(tmp_path.iterdir()) == []
    back = spilled.load()

    def same(a, b) -> bool:  # type: ignore[no-untyped-def]
        if isinstance(a, np.ndarray):
            return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[x], b[x]) for x in a)
        if isinstance(a, list | tuple):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if dataclasses.is_dataclass(a):
            return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
        return bool(a == b)

    assert same(index, back) and index.known and index.near
    t = next(iter(back.known))
    mutated = dataclasses.replace(back, known={**back.known, t: back.known[t][1:]})
    assert not same(index, mutated)  # the comparison sees a difference


def test_rebased_proposals_read_each_anchor_from_the_whole_columns(population) -> None:  # type: ignore[no-untyped-def]
    """After the cut, a redraw proposes an output person's anchor's own kept values even when the remnant
    does not hold that anchor: the anchors' columns stay whole; donors come from the remnant."""
    from scrambler.panel import Panel
    from scrambler.sampling.sampler import draw_order
    from scrambler.scramble.plan import code_counts, make_plan
    from scrambler.scramble.proposals import MethodProposals

    spec, source = population
    rng = np.random.default_rng(3)
    plan = make_plan(spec, draw_order(spec), rng, code_counts(source))
    kept_vars = [v for b in plan.blocks if b.method == "keep" for v in b.variables]
    assert kept_vars, "the spec keeps some variables"
    anchor = rng.permutation(source.n)[:500]
    out = Panel.empty(spec, 500)
    proposals = MethodProposals(spec, source, plan, anchor, rng, output=out)
    whole = remnant.anchored(source, [v for b in plan.blocks if b.method in remnant.ANCHORED for v in b.variables])
    assert set(whole.periodic) | set(whole.static) >= set(kept_vars)
    kept = np.arange(0, source.n, 10)  # a remnant that misses most anchors
    proposals.rebase(whole, source.subset(kept))
    t = 2
    rows = np.arange(500)
    for name in kept_vars:
        values, has = proposals(name, t, rows, {}, rng)  # type: ignore[arg-type, misc]
        assert has.all() and np.array_equal(values, source.values(name, t)[anchor]), name
    assert proposals.pool_source.n == len(kept)


def test_the_scramble_command_cuts_a_large_input_and_reports_from_its_sample(mini_spec, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The command hands its input over with the reports' sample rows: the input is cut down after the draw,
    and the reports still read exactly the persons of that sample (found again among the remnant's rows)
    and state the whole input's size."""
    import json

    from scrambler.cli import main as cli_main
    from scrambler.datasets import read_dataset, write_dataset
    from scrambler.reports import write as write_mod

    population = generate_population(mini_spec, 3_000, 5)
    write_dataset(population, tmp_path / "population", {"kind": "population"}, "stand-in", with_source=True)
    whole = read_dataset(mini_spec, tmp_path / "population", source_ids=False)
    for name, value in (("REMNANT_MIN", 1_000), ("REMNANT_SAMPLE", 300), ("RARE_HOLDERS", 5)):
        monkeypatch.setattr(remnant, name, value)
    monkeypatch.setattr(write_mod, "REPORT_PERSONS", 1_000)
    cuts: list[int] = []
    real_cut = remnant.cut

    def cut(source, taken, proposals, plan):  # type: ignore[no-untyped-def]
        cuts.append(len(taken.kept))
        return real_cut(source, taken, proposals, plan)

    monkeypatch.setattr(remnant, "cut", cut)
    handed: list = []
    real_input = write_mod.input_for_reports
    monkeypatch.setattr(write_mod, "input_for_reports", lambda *a: handed.append(real_input(*a)) or handed[-1])
    monkeypatch.setattr(cli_main._Interrupts, "seen", False)
    code = cli_main.main(["scramble", str(MINI_DIR), "--input", str(tmp_path / "population"),
                          "--out", str(tmp_path / "run"), "--persons", "2000", "--seed", "3"])
    assert code == 0 and cuts and cuts[0] < whole.n  # cut down, to fewer persons than the input
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["violations"] == 0 and manifest["coverage_gaps"] == []
    rows = write_mod.report_rows(whole.n, 3)
    assert rows is not None and len(handed) == 1
    assert np.array_equal(handed[0].ids, whole.ids[rows])
    assert np.array_equal(handed[0].present, whole.present[:, rows])
    internal = json.loads((tmp_path / "run" / "reports" / "report_internal.json").read_text())
    assert internal["datasets"]["input"] == {"persons": whole.n, "person_periods": int(whole.present.sum())}


def test_row_selections_keep_shared_observed_masks_shared(population, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """decode gives the variables of one table block one observed mask: a subset (the reports' sample, the
    draw's working sample) and a compaction (the cut) keep it one array, with each variable's values."""
    from scrambler.datasets import read_dataset, write_dataset

    spec, whole = population
    write_dataset(whole, tmp_path / "p", {"kind": "population"}, "stand-in")
    source = read_dataset(spec, tmp_path / "p", source_ids=False)
    assert source.observed is not None
    shared = len({id(m) for m in source.observed.values()})
    assert shared < len(source.observed), "decode shares masks between variables"
    rows = np.arange(0, source.n, 3)
    sub = source.subset(rows)
    assert sub.observed is not None and len({id(m) for m in sub.observed.values()}) == shared
    for name, mask in source.observed.items():
        assert np.array_equal(sub.observed[name], mask[:, rows]), name
    expected = {name: mask[:, rows].copy() for name, mask in source.observed.items()}
    source.compact(rows)
    assert source.observed is not None and len({id(m) for m in source.observed.values()}) == shared
    assert all(np.array_equal(source.observed[name], mask) for name, mask in expected.items())
