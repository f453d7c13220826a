"""The input fingerprint a manifest records: one function for the local and the dask engine and for ``report``,
which refuses an --input whose fingerprint differs from the run's."""

from __future__ import annotations

import hashlib
from pathlib import Path

PART_PREFIX = "part-"  # pre-partitioned inputs: one folder per partition (docs/distributed.md)


def input_fingerprint(folder: str | Path) -> str:
    """sha256 over the input's Parquet files (name and bytes, streamed). For a flat folder it equals the local
    engine's fingerprint; for a pre-partitioned one it covers every partition file."""
    root = Path(folder)
    files = sorted(root.glob("*.parquet")) or sorted(root.glob(f"{PART_PREFIX}*/*.parquet"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() if path.parent == root else path.relative_to(root).as_posix().encode())
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()
