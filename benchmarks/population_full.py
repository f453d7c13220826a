"""The full stand-in population: ``scrambler population`` for the 24/130 spec at full size (7.5 million
persons by default), run as a subprocess; prints wall time, CPU time, peak memory and rows per second.

    .venv/bin/python benchmarks/population_full.py [--persons 7500000] [--out DIR] [--seed 1]

The folder it writes is what benchmarks/scramble_full.py reads (same default --out).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from measure import SPEC, format_machine, machine, run, scrambler_command

DEFAULT_OUT = Path("/tmp/scrambler-full")


def generate(persons: int, out: Path, seed: int, spec: Path) -> tuple[Path, dict[str, object]]:
    folder = out / "population"
    r = run("population", [*scrambler_command(), "population", str(spec), "--persons", str(persons), "--out",
                           str(folder), "--seed", str(seed), "--force"], out / "logs")
    if not r.ok():
        raise SystemExit(f"population failed (exit {r.returncode}):\n{r.tail()}")
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = sum(manifest["rows"].values())
    return folder, {"persons": persons, "rows": rows, "wall_s": round(r.wall_s, 1), "cpu_s": round(r.cpu_s, 1),
                    "peak_mib": round(r.peak_mib), "rows_per_s": round(rows / r.wall_s), "peak_method": r.peak_method}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=7_500_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="work folder (population in OUT/population)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spec", type=Path, default=SPEC)
    args = parser.parse_args()
    print(format_machine(machine()), flush=True)
    folder, res = generate(args.persons, args.out.resolve(), args.seed, args.spec)
    print(f"\npopulation {res['persons']:,} persons -> {folder}: {res['rows']:,} rows in 6 tables; "
          f"wall {res['wall_s']} s, CPU {res['cpu_s']} s, peak memory {res['peak_mib']:,} MiB "
          f"({res['peak_method']}), {res['rows_per_s']:,} rows/s")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
