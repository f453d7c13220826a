"""The floor: the least work any scrambler must do.

Read the population tables, pick the output persons (without replacement when there are enough, else with),
give them new identifiers (consistent across tables, disjoint from the input's), permute every other column
independently (one numpy permutation per column), write the tables as Parquet. No rule is kept: this is a
speed reference, not a method.

    .venv/bin/python benchmarks/floor.py --input POP_DIR --out DIR --persons N [--seed S]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ID = "person_id"


def floor(input_dir: Path, out_dir: Path, persons: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    tables = {p.stem: pq.read_table(p) for p in sorted(input_dir.glob("*.parquet"))}
    if not tables:
        raise SystemExit(f"no .parquet table in {input_dir}")
    ids = {name: t.column(ID).to_numpy() for name, t in tables.items()}
    everyone = np.unique(np.concatenate(list(ids.values())))
    chosen = rng.choice(len(everyone), size=persons, replace=persons > len(everyone))
    top = int(everyone.max())
    new_ids = top + 1 + rng.permutation(persons).astype(np.int64)  # fresh, disjoint from the input's
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    counts = {}
    for name, table in tables.items():
        row_of = np.full(len(everyone), -1, dtype=np.int64)
        row_of[np.searchsorted(everyone, ids[name])] = np.arange(table.num_rows)
        rows = row_of[chosen]
        keep = rows >= 0
        rows = rows[keep]
        n = len(rows)
        columns = []
        for column_name in table.column_names:
            if column_name == ID:
                columns.append(pa.array(new_ids[keep], pa.int64()))
            else:
                columns.append(table.column(column_name).take(pa.array(rows[rng.permutation(n)])))
        pq.write_table(pa.Table.from_arrays(columns, schema=table.schema), out_dir / f"{name}.parquet")
        counts[name] = n
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--persons", required=True, type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    counts = floor(args.input, args.out, args.persons, args.seed)
    print(f"floor: {args.persons} persons, {sum(counts.values())} rows in {len(counts)} tables -> {args.out} "
          f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
