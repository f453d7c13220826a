"""``scrambler scramble SPEC_DIR --input POP_DIR --out DIR --persons N --seed S``: the scrambled dataset."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from scrambler.cli.arguments import count
from scrambler.cli.progress import Progress
from scrambler.codebook import require_exportable
from scrambler.datasets import read_dataset, write_checked
from scrambler.fingerprint import input_fingerprint
from scrambler.formats import FORMATS
from scrambler.memory import input_persons, require_memory
from scrambler.output import prepare_output
from scrambler.scramble import scramble
from scrambler.scramble.gaps import format_gaps
from scrambler.scramble.pipeline import LABEL
from scrambler.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("scramble", help="make the scrambled dataset", description=__doc__)
    p.add_argument("spec", help="the spec folder")
    p.add_argument("--input", required=True, help="the input folder (population tables)")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--persons", type=count, required=True, help="number of scrambled persons")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed, input and spec give the same output")
    p.add_argument("--k", type=int, help="coverage: each category at least k times (default: the spec's)")
    p.add_argument("--codelist-coverage", action="store_true",
                   help="cover every code the constraints allow, not only those in the input")
    p.add_argument("--format", default="parquet",
                   help=f"comma-separated extra formats beside Parquet: {', '.join(FORMATS)}")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-reports", action="store_true", help="skip the internal and shareable reports (OUT/reports)")
    p.add_argument("--hold-out", type=int, default=0, metavar="N",
                   help="keep N input persons (drawn from the seed) out of the scramble: the report's attacks use "
                   "them as the control of real persons the scrambler never read (default 0: the control is cut "
                   "from the input, which biases the risks towards 0)")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local: in memory; dask: partitioned on dask.distributed (docs/distributed.md)")
    p.add_argument("--scheduler", help="with --engine dask: scheduler address such as tcp://host:8786 "
                   "(default: a LocalCluster on this machine)")
    p.add_argument("--partitions", type=int, help="with --engine dask: number of partitions P (default: the "
                   "input's part-NNNNN folders, else the workers); the result depends on seed and P")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scrambler.errors import Issue, ScramblerError

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ScramblerError([Issue(code="unknown-format",
                                     message=f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")])
    prepare_output(args.out, args.force, {"spec folder": args.spec, "--input": args.input})
    spec = load_spec(args.spec)
    require_exportable(spec, formats)  # a name the format refuses fails now, not after the whole run
    start = time.perf_counter()
    if args.engine == "local" and (args.scheduler or args.partitions is not None):
        raise ScramblerError([Issue(code="bad-argument", message="--scheduler and --partitions need --engine dask")])
    if args.hold_out and args.engine != "local":
        raise ScramblerError([Issue(code="bad-argument", message="--hold-out needs --engine local")])
    if args.hold_out < 0:
        raise ScramblerError([Issue(code="bad-argument", message=f"--hold-out must be 0 or more, got {args.hold_out}")])
    if args.engine == "local":  # dask spreads the panel over its workers
        require_memory(spec, args.persons + input_persons(args.input), "scramble")
    with Progress("scramble") as progress:
        if args.engine == "local":
            with progress.stage("read input"):
                source = read_dataset(spec, args.input, source_ids=False)
                if args.hold_out:
                    from scrambler.scramble.holdout import drop_held_out

                    drop_held_out(source, args.hold_out, args.seed)
            # the input is handed over: the reports' sample is all the command reads of it after the scramble
            # (held-out runs: the reports read the whole input again), so a large one drawn whole is cut down
            # after the draw (scramble.remnant: 7.5M -> 7.5M peaked at 9.3 GB before, ~8 GB since)
            reports = not args.no_reports and not args.hold_out
            wanted = None
            if reports:
                from scrambler.reports.write import report_rows

                wanted = report_rows(source.n, args.seed)  # None: they read all of an input not larger
            hand_over = wanted if reports else np.zeros(0, dtype=np.int64)
            with progress.stage("scramble"):
                # the independent check runs once, on the written files (write_checked), not also in memory;
                # the draw may use a second process (the output is the same)
                result = scramble(spec, source, args.persons, args.seed, k=args.k,
                                  codelist_coverage=args.codelist_coverage or None, progress=progress.update,
                                  check=False, processes=2, hand_over=hand_over)
        else:
            from scrambler.distributed import scramble_dask

            with progress.stage("scramble (dask)"):
                result = scramble_dask(spec, args.input, args.persons, args.seed, partitions=args.partitions,
                                       scheduler=args.scheduler, k=args.k,
                                       codelist_coverage=args.codelist_coverage or None, progress=progress.update)
        report_input = None
        if args.engine == "local":
            if reports:
                from scrambler.reports.write import input_for_reports

                report_input = input_for_reports(source, wanted, result.input_rows)
            # the whole input is not held while the output is written and checked (3.7 GB at 7.5 million)
            del source
        manifest = {**result.manifest(args.seed, input_fingerprint(args.input)), "spec": str(Path(args.spec).resolve())}
        if args.hold_out:
            manifest["held_out"] = {"persons": args.hold_out, "seed": args.seed}
        extra = [f for f in formats if f != "parquet"]
        with progress.stage("write and check" + (f" ({', '.join(['parquet', *extra])})" if extra else "")):
            # the panel is handed over: the check's decoded tables replace it (one panel fewer at the peak)
            _, result.report = write_checked(result.panel, args.out, manifest, LABEL, force=args.force, exports=extra,
                                             hand_over=True)
        if not args.no_reports:
            from scrambler.reports import reports_after_scramble

            with progress.stage("reports"):
                reports_after_scramble(args.out, spec, args.input, result, progress=progress.update,
                                       source=report_input)
    gaps = len(result.gaps)
    print(f"{spec.name}: {result.panel.n} scrambled persons -> {args.out}; violations {result.report.violations}; "
          f"coverage gaps {gaps}; input collisions redrawn {sum(result.guard['collisions_before'].values())} -> 0 "
          f"({time.perf_counter() - start:.1f} s)")
    for line in format_gaps(result.gaps):
        print(line)
    return 0
