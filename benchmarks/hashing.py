"""The guard's row hash in cache-sized blocks against the same hash column by column over all rows.

    .venv/bin/python benchmarks/hashing.py [--rows 7500000] [--codes 50] [--numbers 5] [--share 0.9]

Synthetic columns shaped like a period of the 24/130 panel (int8 codes with nulls, float numbers), hashed
as ``guard.row_hashes`` hashes them: ``share`` of the rows gathered (the present persons). Prints seconds of
each form, twice, and checks that both give the same hashes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrambler.scramble.nearness import _MIX, _SEED, _SHIFT, _SPREAD, hash_columns  # noqa: E402


def column_by_column(columns: list[np.ndarray], n: int) -> np.ndarray:
    """The hash as it was before the blocks (7 steps per column over all rows, in place)."""
    h = np.full(n, _SEED, dtype=np.uint64)
    v = np.empty(n, dtype=np.uint64)
    shifted = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore", invalid="ignore"):
        for i, values in enumerate(columns):
            if values.dtype.kind == "f":
                as_float = v.view(np.float64)
                np.round(values, 6, out=as_float)
                as_float[np.isnan(values)] = -1e300
            else:
                v[...] = values
            v += np.uint64(i + 1)
            v *= _MIX
            h ^= v
            np.right_shift(h, _SHIFT, out=shifted)
            h ^= shifted
            h *= _SPREAD
    return h


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=7_500_000)
    parser.add_argument("--codes", type=int, default=50)
    parser.add_argument("--numbers", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.rows
    columns = [rng.integers(-1, 20, n).astype(np.int8) for _ in range(args.codes)]
    columns += [rng.random(n) for _ in range(args.numbers)]
    rows = np.sort(rng.choice(n, int(n * args.share), replace=False))
    for _ in range(2):
        start = time.perf_counter()
        before = column_by_column(columns, n)[rows]
        middle = time.perf_counter()
        after = hash_columns(columns, len(rows), rows)
        end = time.perf_counter()
        assert np.array_equal(before, after), "the blocks changed the hashes"
        print(f"{len(columns)} columns, {len(rows):,} of {n:,} rows: column by column {middle - start:.2f} s, "
              f"in blocks {end - middle:.2f} s")


if __name__ == "__main__":
    main()
