"""Parquet export: the lossless format, for Python, R (arrow) and Spark users.

Frames are written as they are -- no recoding -- so ``pandas.read_parquet`` gives back the same values and
dtypes (pyarrow stores the pandas dtypes in the file). Strings are dictionary-encoded on disk (codes repeat a
lot, so files stay small), ``category`` columns become Arrow dictionary columns, and each field carries its
label, kind and value labels as field metadata so the file documents itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scrambler.formats._atomic import write_atomic, write_each
from scrambler.formats._common import resolve
from scrambler.formats.codebook import Codebook, ColumnInfo

SUFFIX = ".parquet"


def field_metadata(info: ColumnInfo) -> dict[bytes, bytes]:
    """Label, kind and value labels of a variable as Arrow field metadata (UTF-8 bytes)."""
    meta = {b"label": info.label.encode(), b"kind": info.kind.encode(), b"variable": info.name.encode()}
    if info.value_labels:
        labels = {str(k): str(v) for k, v in info.value_labels.items()}
        meta[b"value_labels"] = json.dumps(labels, ensure_ascii=False).encode()
    return meta


def text_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary column with string values, whatever the category dtype was.

    Parquet readers restore dictionary (hence ``category``) columns only for text values: categories of
    ints (111) or an all-null ``Categorical`` (float64 categories, no values) would come back as plain
    numbers. Codes are text by contract, so such categories are written as their text ("111").
    """
    kind = column.type
    if pa.types.is_dictionary(kind) and not pa.types.is_string(kind.value_type):
        return column.cast(pa.dictionary(kind.index_type, pa.string(), kind.ordered))
    return column


def to_arrow(frame: pd.DataFrame, infos: Mapping[str, ColumnInfo]) -> pa.Table:
    """Arrow table of ``frame`` (index dropped) with per-field codebook metadata and the pandas metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = [text_dictionary(c) for c in table.columns]
    fields = [
        pa.field(f.name, c.type, f.nullable, metadata=field_metadata(infos[f.name]))
        for f, c in zip(table.schema, columns, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def export(tables: Mapping[str, pd.DataFrame], codebook: Codebook, out_dir: Path) -> list[Path]:
    """Write ``<table>.parquet`` per table (zstd, dictionary encoding on)."""
    columns = resolve(tables, codebook)
    infos: dict[str, dict[str, ColumnInfo]] = {}
    for col in columns:
        infos.setdefault(col.table, {})[col.name] = col.info

    def one(item: tuple[str, pd.DataFrame]) -> list[Path]:
        name, frame = item
        arrow = to_arrow(frame, infos.get(name, {}))

        def write(tmp: Path) -> None:
            pq.write_table(arrow, tmp, compression="zstd", use_dictionary=True)

        return [write_atomic(out_dir / f"{name}{SUFFIX}", write)]

    return write_each(tables.items(), one)
