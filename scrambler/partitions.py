"""The dask engine's input, partition by partition: which partition a person falls in, the input folder (flat,
or pre-partitioned into part-NNNNN folders), reading one partition as a panel without loading the others, and
writing a pre-partitioned copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scrambler.check import read_tables
from scrambler.decode import tables_to_panel
from scrambler.errors import DataError, Issue
from scrambler.fingerprint import PART_PREFIX
from scrambler.output import atomic_folder, write_json
from scrambler.panel import Panel
from scrambler.readers import find_tables, read_table, suffix_of
from scrambler.spec.model import DatasetSpec

PARTITIONING = "splitmix64(sequence number) mod P"
BATCH_ROWS = 65_536


def partition_of(ids: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0..P-1) of each sequence number: splitmix64 finaliser, then mod P. Stable across
    machines, runs and library versions (unlike Python's hash()); spreads structured ids evenly."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    z = np.asarray(ids).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(partitions)).astype(np.int64)


# --- input: a flat dataset folder or a folder of partition folders ------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the input lives: ``folders`` set when pre-partitioned (one folder per partition)."""

    root: str
    partitions: int
    folders: tuple[str, ...] | None = None


def resolve_input(folder: str | Path, partitions: int | None, default: int) -> Source:
    root = Path(folder)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError([Issue(code="missing-data", file=str(root), message=f"the input folder {what}")])
    if find_tables(root):
        count = partitions if partitions is not None else default
        if count < 1:
            raise DataError([Issue(code="bad-argument", message=f"--partitions must be at least 1, got {count}")])
        return Source(str(root), count)
    parts = sorted(p for p in root.glob(f"{PART_PREFIX}*") if p.is_dir())
    if not parts:
        raise DataError([Issue(code="missing-data", file=str(root), message="the input holds neither tables "
                               f"(.parquet, .csv, .dta, ...) nor {PART_PREFIX}NNNNN partition folders")])
    if partitions is not None and partitions != len(parts):
        raise DataError([Issue(code="bad-value", file=str(root), message=f"the input is pre-partitioned into "
                               f"{len(parts)} folders; --partitions {partitions} differs (omit it)")])
    return Source(str(root), len(parts), tuple(str(p) for p in parts))


def _unreadable(path: Path) -> DataError:
    return DataError([Issue(code="unreadable-file", file=str(path), message="not a Parquet file")])


def _filtered_table(path: Path, identifier: str, p: int, partitions: int) -> pa.Table:
    """The rows of one Parquet file whose person falls in partition p, read row group by row group."""
    try:
        handle = pq.ParquetFile(path)
        if identifier not in handle.schema_arrow.names:
            return handle.read()  # the decoder reports the missing identifier column
        pieces = []
        for batch in handle.iter_batches(batch_size=BATCH_ROWS):
            ids = batch.column(identifier).to_numpy(zero_copy_only=False)
            if ids.dtype.kind not in "iu":  # nulls or a wrong type: keep, the decoder reports it
                pieces.append(batch)
                continue
            pieces.append(batch.filter(pa.array(partition_of(ids, partitions) == p)))
        if not pieces:
            return handle.schema_arrow.empty_table()
        return pa.Table.from_batches(pieces)
    except (pa.ArrowInvalid, OSError):
        raise _unreadable(path) from None


def _filtered_other(path: Path, spec: DatasetSpec, p: int, partitions: int) -> pa.Table:
    """The rows of a CSV, SAS, Stata or SPSS file whose person falls in partition p, decoded by the spec.
    The file is read whole by each worker (its reader streams it, but every worker reads all of it): for a
    large input, `scrambler import` it to Parquet once, or prepartition it."""
    table = read_table(path, spec)
    if spec.identifier not in table.column_names:
        return table  # the decoder reports the missing identifier column
    ids = table.column(spec.identifier).to_numpy(zero_copy_only=False)
    if ids.dtype.kind not in "iu":
        return table
    return table.filter(pa.array(partition_of(ids, partitions) == p))


def read_partition(spec: DatasetSpec, source: Source, p: int) -> Panel:
    """Partition p of the input as a panel (raises DataError on structural problems, like read_dataset)."""
    if source.folders is not None:
        tables = read_tables(source.folders[p], spec)
        where = source.folders[p]
    else:
        tables = {name: _filtered_table(path, spec.identifier, p, source.partitions)
                  if suffix_of(path) == ".parquet" else _filtered_other(path, spec, p, source.partitions)
                  for name, path in find_tables(Path(source.root)).items()}
        where = source.root
    decoded = tables_to_panel(spec, tables)
    if decoded.issues:
        raise DataError([Issue(code=i.code, message=i.message, file=where, table=i.table, variable=i.variable,
                               row=i.row) for i in decoded.issues])
    return decoded.panel


def prepartition(spec: DatasetSpec, folder: str | Path, out: str | Path, partitions: int,
                 force: bool = False) -> list[Path]:
    """Split a dataset folder into ``out/part-NNNNN/`` folders by :func:`partition_of`, streaming row groups
    (memory: one row group per table). ``source/`` (national numbers) is not copied. Written atomically."""
    if partitions < 1:
        raise DataError([Issue(code="bad-argument", message=f"partitions must be at least 1, got {partitions}")])
    paths = sorted(Path(folder).glob("*.parquet"))
    if not paths:
        raise DataError([Issue(code="missing-data", file=str(folder), message="the folder holds no .parquet table")])
    names = [f"{PART_PREFIX}{p:05d}" for p in range(partitions)]
    with atomic_folder(out, force=force) as tmp:
        for name in names:
            (tmp / name).mkdir()
        for path in paths:
            try:
                handle = pq.ParquetFile(path)
                schema = handle.schema_arrow
                writers = [pq.ParquetWriter(tmp / name / path.name, schema, compression="zstd") for name in names]
                try:
                    for batch in handle.iter_batches(batch_size=BATCH_ROWS):
                        part = partition_of(batch.column(spec.identifier).to_numpy(zero_copy_only=False),
                                            partitions)
                        for p, writer in enumerate(writers):
                            writer.write_table(pa.Table.from_batches([batch.filter(pa.array(part == p))], schema))
                finally:
                    for writer in writers:
                        writer.close()
            except (pa.ArrowInvalid, OSError, KeyError):
                raise _unreadable(path) from None
        write_json(tmp / "partitions.json", {"partitions": partitions, "partitioning": PARTITIONING,
                                             "identifier": spec.identifier})
    return [Path(out) / name for name in names]


# --- worker tasks --------------------------------------------------------------------------------------------
