"""``scrambler population SPEC_DIR --persons N --out DIR --seed S``: generate a stand-in population."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scrambler.cli.arguments import count
from scrambler.cli.progress import Progress
from scrambler.datasets import write_dataset
from scrambler.memory import require_memory
from scrambler.output import prepare_output
from scrambler.population import generate_population
from scrambler.spec import load_spec

LABEL = "stand-in population: synthetic, generated from the spec's model; no real person"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("population", help="generate a synthetic stand-in population", description=__doc__)
    p.add_argument("spec", help="the spec folder")
    p.add_argument("--persons", type=count, required=True, help="number of persons in the tables")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prepare_output(args.out, args.force, {"spec folder": args.spec})
    spec = load_spec(args.spec)
    require_memory(spec, args.persons, "population")
    start = time.perf_counter()
    with Progress() as progress:
        panel = generate_population(spec, args.persons, args.seed, progress=progress.update)
    counts = write_dataset(panel, args.out, {"kind": "population", "seed": args.seed,
                                           "spec": str(Path(args.spec).resolve())}, LABEL, force=args.force,
                           with_source=True, verify=True)  # the same independent check as scramble
    print(f"{spec.name}: {panel.n} persons, {sum(counts.values())} rows in {len(counts)} tables -> {args.out} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0
