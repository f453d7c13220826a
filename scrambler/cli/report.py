"""``scrambler report RUN_DIR --spec SPEC --input POP_DIR [--sample DIR]``: (re)build both reports of a run.

Writes ``report_internal.html/.json`` (KSZ only: holds input counts) and ``report_shareable.html/.json``
(travels with the data) into ``RUN_DIR/reports`` (or ``--out``). See docs/reports.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scrambler.check import check
from scrambler.cli.progress import Progress
from scrambler.datasets import read_dataset
from scrambler.errors import DataError, Issue
from scrambler.fingerprint import input_fingerprint
from scrambler.output import refuse_file_in_path, refuse_overlap
from scrambler.reports import SMALL_CELL, ReportSettings, write_run_reports
from scrambler.reports.write import read_manifest
from scrambler.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="build the internal and shareable reports of a scrambled run",
                       description=__doc__)
    p.add_argument("run", help="the scrambled run folder (tables and manifest.json)")
    p.add_argument("--spec", required=True, help="the spec folder")
    p.add_argument("--input", required=True, help="the input the run was scrambled from (population tables)")
    p.add_argument("--sample", help="the phase-1 sample folder, for the coverage comparison")
    p.add_argument("--out", help="folder for the reports (default: RUN/reports)")
    p.add_argument("--small-cell", type=int, default=SMALL_CELL,
                   help=f"no count below this in the shareable report (default {SMALL_CELL})")
    p.add_argument("--rows", type=int, default=2000, help="rows sampled for fidelity and anonymeter")
    p.add_argument("--attacks", type=int, default=500, help="anonymeter attacks (linkability, inference)")
    p.add_argument("--fast", action="store_true", help="skip the anonymeter attacks and the sdmetrics report")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampled rows and the attacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    settings = ReportSettings(small_cell=args.small_cell, rows=args.rows, n_attacks=args.attacks, seed=args.seed,
                              privacy_attacks=not args.fast, fidelity=not args.fast)
    out = Path(args.out) if args.out else Path(args.run) / "reports"
    refuse_overlap(out, {"spec folder": args.spec, "--input": args.input, "--sample": args.sample})
    if out.resolve() == Path(args.run).resolve() or out.resolve() in Path(args.run).resolve().parents:
        refuse_overlap(out, {"run folder": args.run})  # reports go inside the run (the default), never over it
    refuse_file_in_path(out)
    same_input(args.run, args.input)
    spec = load_spec(args.spec)
    with Progress("report") as progress:
        with progress.stage("read"):
            scrambled = read_dataset(spec, args.run, source_ids=False)
            source = read_dataset(spec, args.input, source_ids=False)
            sample = read_dataset(spec, args.sample, source_ids=False) if args.sample else None
        with progress.stage("check"):
            report = check(spec, scrambled)
        with progress.stage("reports"):
            paths = write_run_reports(args.run, scrambled, source, report, sample, settings, out=args.out,
                                      progress=progress.update)
    sizes = ", ".join(f"{name} {path.stat().st_size // 1024} KB" for name, path in sorted(paths.items()))
    folder = next(iter(paths.values())).parent
    print(f"{spec.name}: reports in {folder}: {sizes}; violations {report.violations} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def same_input(run: str, given: str) -> None:
    """The reports compare the run with its input: an input other than the one the run was scrambled from
    (its fingerprint differs from the manifest's) would make every figure in them wrong."""
    recorded = read_manifest(run).get("input_fingerprint")
    if not isinstance(recorded, str):
        raise DataError([Issue(code="bad-manifest", file=str(Path(run) / "manifest.json"),
                               message="the manifest records no input_fingerprint, so the --input cannot be "
                               "matched to the run")])
    if input_fingerprint(given) != recorded:
        raise DataError([Issue(code="input-mismatch", file=str(given),
                               message=f"this --input is not the one the run was scrambled from (its fingerprint "
                               f"differs from input_fingerprint in {Path(run) / 'manifest.json'}); pass that "
                               "input folder")])
