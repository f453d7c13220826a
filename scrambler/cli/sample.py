"""``scrambler sample DATA_DIR --persons N --out DIR --seed S``: draw a sample of whole persons (the phase-1
sample) from any dataset folder: a stand-in population, real data, a scrambled set."""

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

LABEL = "sample of whole persons (phase-1 sample)"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sample", help="draw the phase-1 sample of whole persons", description=__doc__)
    p.add_argument("population", metavar="DATA_DIR", help="a dataset folder: one Parquet file per table")
    p.add_argument("--spec", help="the spec folder (default: the one recorded in the folder's manifest.json)")
    p.add_argument("--persons", type=count, default=10_000)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=run)


def spec_for(folder: str, given: str | None) -> str:
    """The spec folder: ``--spec``, else the one the folder's manifest records (its path, then its dataset
    name under constraints/)."""
    if given:
        return given
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        raise DataError([Issue(code="missing-manifest", file=str(manifest),
                               message="no manifest.json names this folder's spec: pass --spec SPEC_DIR")])
    try:
        recorded = json.loads(manifest.read_text())
        name = recorded["dataset"]
    except (ValueError, KeyError, TypeError):
        raise DataError([Issue(code="bad-manifest", file=str(manifest),
                               message="manifest.json names no dataset: pass --spec SPEC_DIR")]) from None
    for candidate in (recorded.get("spec"), str(Path("constraints") / str(name))):
        if candidate and Path(candidate).is_dir():
            return candidate
    raise DataError([Issue(code="missing-spec", file=str(manifest),
                           message=f"spec {name!r} not found (neither the recorded spec folder nor "
                           f"constraints/{name}): pass --spec SPEC_DIR")])


def run(args: argparse.Namespace) -> int:
    spec_dir = spec_for(args.population, args.spec)
    prepare_output(args.out, args.force, {"input": args.population, "spec folder": spec_dir})
    spec = load_spec(spec_dir)
    data = read_dataset(spec, args.population)
    sample = sample_panel(data, args.persons, args.seed)
    write_dataset(sample, args.out, {"kind": "sample", "seed": args.seed, "from": str(args.population),
                                     "spec": str(Path(spec_dir).resolve())}, LABEL,
                  force=args.force, with_source=True, verify=True)  # the same independent check as scramble
    print(format_coverage(compare_coverage(spec, data, sample), ["input", "sample"]))
    print(f"sample of {sample.n} persons -> {args.out}")
    return 0
