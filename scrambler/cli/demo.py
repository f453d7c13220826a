"""``scrambler demo``: the embedded default, end to end on the default dataset (named in constraints/DEFAULT).

Builds a stand-in population, draws the phase-1 sample, scrambles, checks, and prints the story: which
categories the sample misses and the scrambled set covers, violations, the no-real-situation check, and the
time per stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scrambler.check import check
from scrambler.cli.arguments import count
from scrambler.cli.progress import Progress
from scrambler.coverage import variable_counts
from scrambler.datasets import read_dataset, sample_panel, write_dataset
from scrambler.fingerprint import input_fingerprint
from scrambler.memory import require_memory
from scrambler.output import check_target, refuse_overlap
from scrambler.population import generate_population
from scrambler.scramble import scramble
from scrambler.scramble.pipeline import LABEL
from scrambler.spec import load_spec

CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints"


def default_spec() -> str:
    """The embedded default dataset: the folder named in constraints/DEFAULT (the engine names none)."""
    name = (CONSTRAINTS / "DEFAULT").read_text(encoding="utf-8").strip()
    return str(CONSTRAINTS / name)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run the whole story on the embedded default dataset", description=__doc__)
    p.add_argument("--spec", default=None, help="spec folder (default: the one named in constraints/DEFAULT)")
    p.add_argument("--population", type=count, default=200_000, help="persons in the stand-in population")
    p.add_argument("--sample", type=count, default=10_000, help="persons in the phase-1 sample")
    p.add_argument("--scrambled", type=count, default=100_000, help="persons in the scrambled dataset")
    p.add_argument("--out", default="demo-output", help="folder for the three datasets (replaced)")
    p.add_argument("--seed", type=int, default=2024, help="random seed of all three stages")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    times: dict[str, float] = {}
    out = Path(args.out)
    spec_dir = args.spec or default_spec()
    refuse_overlap(out, {"spec folder": spec_dir})
    for part in ("population", "sample", "scrambled"):  # demo replaces its own earlier output, nothing else
        check_target(out / part, True)
    spec = load_spec(spec_dir)
    require_memory(spec, args.population + args.scrambled, "scramble")
    require_memory(spec, args.population, "population")
    with Progress("demo") as progress:
        print(f"1/4 stand-in population: {args.population} persons ...", flush=True)
        with progress.stage("population"):
            population = generate_population(spec, args.population, args.seed, progress=progress.update)
            write_dataset(population, out / "population", {"kind": "population", "seed": args.seed},
                          "stand-in population", force=True, with_source=True)
        print(f"2/4 phase-1 sample: {args.sample} persons ...", flush=True)
        with progress.stage("sample"):
            sample = sample_panel(population, args.sample, args.seed)
            write_dataset(sample, out / "sample", {"kind": "sample", "seed": args.seed}, "phase-1 sample",
                          force=True)
        print(f"3/4 scrambled: {args.scrambled} persons from the population ...", flush=True)
        with progress.stage("scramble"):
            source = read_dataset(spec, out / "population")
            result = scramble(spec, source, args.scrambled, args.seed, progress=progress.update)
            manifest = result.manifest(args.seed, input_fingerprint(out / "population"))  # so `report` matches
            write_dataset(result.panel, out / "scrambled", manifest, LABEL, force=True)
        print("4/4 independent check of the written scrambled tables ...", flush=True)
        with progress.stage("check"):
            report = check(spec, out / "scrambled")
        from scrambler.reports import write_run_reports

        with progress.stage("reports"):
            write_run_reports(out / "scrambled", result.panel, source, report, sample, progress=progress.update,
                              counted=result.input_counts)  # the scramble's count of the input
    times.update(progress.times)
    _story(spec, population, sample, result.panel)
    print(f"\nviolations in the scrambled tables: {report.violations} "
          f"({len(report.results)} rules, {sum(r.checked for r in report.results)} row checks)")
    guard = result.guard
    print(f"depicts no real situation: {sum(guard['collisions_before'].values())} person-periods equal to an "
          f"input person were redrawn; now {guard['collisions_after']} equal any input person-period")
    print(f"coverage gaps the constraints leave (k={spec.scramble.coverage_k}): {len(result.gaps)}")
    print("time per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"datasets in {out}/population, {out}/sample, {out}/scrambled; reports in {out}/scrambled/reports")
    return 0 if report.ok else 1


def _story(spec: object, population: object, sample: object, scrambled: object) -> None:
    pop, smp, scr = (variable_counts(p) for p in (population, sample, scrambled))  # type: ignore[arg-type]
    print(f"\n{'variable':<40}{'codes':>6}{'population':>11}{'sample':>8}{'scrambled':>10}"
          f"{'sample misses':>14}{'of which scrambled has':>24}")
    totals = [0, 0]
    for name, counts in pop.items():
        var = spec.variables[name]  # type: ignore[attr-defined]
        in_pop = counts > 0
        in_smp = smp.get(name, np.zeros_like(counts)) > 0
        in_scr = scr.get(name, np.zeros_like(counts)) > 0
        missing = in_pop & ~in_smp
        covered = missing & in_scr
        totals[0] += int(missing.sum())
        totals[1] += int(covered.sum())
        print(f"{name:<40}{len(var.codes):>6}{int(in_pop.sum()):>11}{int(in_smp.sum()):>8}{int(in_scr.sum()):>10}"
              f"{int(missing.sum()):>14}{int(covered.sum()):>24}")
    print(f"{'TOTAL':<40}{'':>6}{'':>11}{'':>8}{'':>10}{totals[0]:>14}{totals[1]:>24}")
