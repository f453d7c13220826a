"""Parquet tables (the engine's own layout, or any Parquet file with the spec's column names)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scrambler.errors import DataError, Issue
from scrambler.readers._raw import RawFile

SUFFIXES = (".parquet",)
#: values are stored typed: only codes stored as numbers are decoded (readers._conform.needs_decoding)
TYPED = True


def _unreadable(path: Path, exc: Exception) -> DataError:
    return DataError([Issue(code="unreadable-file", file=str(path), message=f"not a Parquet file: {exc}")])


def columns(path: Path) -> list[str]:
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from None


def open_raw(path: Path, wanted: Sequence[str] | None) -> RawFile:
    names = columns(path)
    try:
        # one multithreaded read (as fast as before readers existed); batches are views of its row groups
        table = pq.read_table(path, columns=list(wanted) if wanted is not None else None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from None

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches()

    return RawFile(columns=names if wanted is None else list(wanted), batches=batches(),
                   column_labels=_labels(table.schema))


def _labels(schema: pa.Schema) -> dict[str, str]:
    """Variable labels that scrambler's own Parquet export stores in field metadata."""
    return {f.name: f.metadata[b"label"].decode() for f in schema if f.metadata and b"label" in f.metadata}
