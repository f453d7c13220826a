"""``scrambler check SPEC_DIR DATA_DIR``: check a dataset against every declared constraint."""

from __future__ import annotations

import argparse
import json

from scrambler.check import check
from scrambler.cli.progress import Progress
from scrambler.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="check a dataset against a spec", description=__doc__)
    p.add_argument("spec", help="the spec folder")
    p.add_argument("data", help="a folder with one file per table (.parquet, .csv, .csv.gz, .dta, .sav, .sas7bdat, .xpt)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Progress("check") as progress, progress.stage("check"):
        spec = load_spec(args.spec)
        report = check(spec, args.data)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report.format_text())
    return 0 if report.ok else 1
