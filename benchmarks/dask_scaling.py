"""The Dask engine's throughput with 1 and 2 workers on this machine, beside the local engine.

    .venv/bin/python benchmarks/dask_scaling.py --input POP --persons N [--partitions 8] [--workers 1,2]
        [--out DIR] [--seed 1]

For each worker count a LocalCluster (processes, one thread each, as docs/distributed.md prescribes) is started
in this process and ``scrambler scramble --engine dask --scheduler ADDRESS --partitions P --no-reports`` runs
as a subprocess against it (wall time from the outside, the cluster's start excluded); the local engine
first, on the same input. The content hash of each output is read from its manifest: for the same seed and P the dask
outputs must be identical whatever the number of workers (the engine's determinism guarantee), which the
script asserts. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from measure import ROOT, SPEC, format_machine, machine


def _scramble(extra: list[str], inp: Path, out: Path, persons: int, seed: int) -> tuple[float, dict]:
    command = [sys.executable, "-m", "scrambler", "scramble", str(SPEC), "--input", str(inp), "--out", str(out),
               "--persons", str(persons), "--seed", str(seed), "--force", "--no-reports", *extra]
    clock = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - clock
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall, json.loads((out / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dask-scaling"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from dask.distributed import LocalCluster

    described = format_machine(machine())  # before any cluster: dask sets OMP_NUM_THREADS=1 in this process
    rows = []
    hashes = set()
    # the local engine first, in this process's own environment (the cluster's settings are inherited by
    # subprocesses started after it)
    wall, manifest = _scramble([], args.input, args.out / "local", args.persons, args.seed)
    rows.append(("local engine", wall, manifest))
    for workers in [int(w) for w in args.workers.split(",")]:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
            wall, manifest = _scramble(["--engine", "dask", "--scheduler", cl.scheduler_address, "--partitions",
                                        str(args.partitions)], args.input, args.out / f"dask-{workers}",
                                       args.persons, args.seed)
        hashes.add(manifest["content_hash"])
        rows.append((f"dask, {workers} worker(s), P={args.partitions}", wall, manifest))
    print(f"input {args.input}, {args.persons:,} output persons, seed {args.seed}\n")
    print("| engine | wall s | persons/s | violations | gaps | content hash |")
    print("|---|---|---|---|---|---|")
    for label, wall, m in rows:
        print(f"| {label} | {wall:.1f} | {args.persons / wall:,.0f} | {m['violations']} | {len(m['coverage_gaps'])} "
              f"| {m['content_hash'][:12]} |")
    print(f"\n{described}")
    assert len(hashes) == 1, f"dask outputs differ with the number of workers: {hashes}"
    print("dask outputs identical across worker counts (same seed and P)")


if __name__ == "__main__":
    main()
