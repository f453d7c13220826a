"""Content hashes of the population and scrambled outputs of the declared specs (small sizes, fixed seeds).

    .venv/bin/python benchmarks/output_hashes.py [--persons 300] [--seed 7] [--out DIR]

Refactorings must leave these unchanged (issue 14 item 7): run before and after and compare the printed lines.
Coverage asks k = 1 (at these sizes k = 5 cannot be met and the coverage rounds dominate the time). Each line is
``spec stage sha256`` over every Parquet table's rows (read with pyarrow, so file metadata such as
the writer version does not count), table by table in name order.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent


def table_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.parquet")):
        if "reports" in path.relative_to(folder).parts:
            continue
        digest.update(str(path.relative_to(folder)).encode())
        table = pq.read_table(path)
        digest.update(repr(table.schema.names).encode())
        for column in table.columns:
            digest.update(repr(column.to_pylist()).encode())
    return digest.hexdigest()[:16]


def run(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "scrambler", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"scrambler {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--spec", action="append", default=None, help="spec folder(s); default: constraints/*")
    args = parser.parse_args()
    specs = [Path(s) for s in args.spec] if args.spec else sorted(p.parent for p in (ROOT / "constraints").glob(
        "*/dataset.yaml"))
    out = args.out or Path(tempfile.mkdtemp(prefix="hashes-"))
    for spec in specs:
        pop, scr = out / spec.name / "population", out / spec.name / "scrambled"
        run("population", str(spec), "--persons", str(args.persons), "--out", str(pop), "--seed", str(args.seed),
            "--force")
        print(spec.name, "population", table_hash(pop), flush=True)
        run("scramble", str(spec), "--input", str(pop), "--out", str(scr), "--persons", str(args.persons // 2),
            "--seed", str(args.seed), "--k", "1", "--force", "--no-reports")
        print(spec.name, "scramble", table_hash(scr), flush=True)


if __name__ == "__main__":
    main()
