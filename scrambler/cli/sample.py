"""``scrambler sample POP_DIR --persons N --out DIR --seed S``: draw the phase-1 sample (whole persons)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scrambler.cli.arguments import count
from scrambler.coverage import compare_coverage, format_coverage
from scrambler.datasets import read_dataset, sample_panel, write_dataset
from scrambler.errors import DataError, Issue
from scrambler.output import prepare_output
from scrambler.spec import load_spec

LABEL = "phase-1 sample of the stand-in population"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sample", help="draw the phase-1 sample of whole persons", description=__doc__)
    p.add_argument("population", help="a population folder (from `scrambler population`)")
    p.add_argument("--spec", help="the spec folder (default: the one named in the population's manifest)")
    p.add_argument("--persons", type=count, default=10_000)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=run)


def spec_for(folder: str, given: str | None) -> str:
    if given:
        return given
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        raise DataError([Issue(code="missing-manifest", file=str(manifest),
                               message="no manifest.json: pass --spec SPEC_DIR")])
    name = json.loads(manifest.read_text())["dataset"]
    candidate = Path("constraints") / name
    if not candidate.is_dir():
        raise DataError([Issue(code="missing-spec", file=str(candidate),
                               message=f"spec {name!r} not found under constraints/: pass --spec SPEC_DIR")])
    return str(candidate)


def run(args: argparse.Namespace) -> int:
    spec_dir = spec_for(args.population, args.spec)
    prepare_output(args.out, args.force, {"population": args.population, "spec folder": spec_dir})
    spec = load_spec(spec_dir)
    population = read_dataset(spec, args.population)
    sample = sample_panel(population, args.persons, args.seed)
    write_dataset(sample, args.out, {"kind": "sample", "seed": args.seed, "from": str(args.population)}, LABEL,
                  force=args.force, with_source=True, verify=True)  # the same independent check as scramble
    print(format_coverage(compare_coverage(spec, population, sample), ["population", "sample"]))
    print(f"sample of {sample.n} persons -> {args.out}")
    return 0
