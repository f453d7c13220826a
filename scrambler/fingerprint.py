"""The input fingerprint a manifest records: one function for the local and the dask engine and for ``report``,
which refuses an --input whose fingerprint differs from the run's."""

from __future__ import annotations

import hashlib
from pathlib import Path

PART_PREFIX = "part-"  # pre-partitioned inputs: one folder per partition (docs/distributed.md)


def input_fingerprint(folder: str | Path) -> str:
    """sha256 over the input's table files (name and bytes, streamed): Parquet or any format the readers take
    (CSV, Stata, ...), or every partition file of a pre-partitioned input."""
    from scrambler.readers import find_tables

    root = Path(folder)
    if not root.is_dir():
        return hashlib.sha256().hexdigest()
    files = sorted(root.glob("*.parquet")) or sorted(root.glob(f"{PART_PREFIX}*/*.parquet")) \
        or sorted(find_tables(root).values())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() if path.parent == root else path.relative_to(root).as_posix().encode())
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()
