"""What a format module hands over: a file's columns, the labels it carries, and its rows in batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pyarrow as pa

#: Rows per batch for formats read through pandas (pyreadstat): ~10 columns x 200,000 rows stays small
#: beside the decoded table, whatever the file's size.
CHUNK_ROWS = 200_000


@dataclass
class RawFile:
    """One table file as its format stores it, not yet decoded by the spec's types.

    ``batches`` is consumed once, in file order. ``value_labels`` (Stata, SPSS) map a stored number to its
    label; ``column_labels`` are the variables' descriptions, when the format carries them.
    """

    columns: list[str]
    batches: Iterator[pa.RecordBatch]
    value_labels: Mapping[str, Mapping[float, str]] = field(default_factory=dict)
    column_labels: Mapping[str, str] = field(default_factory=dict)
