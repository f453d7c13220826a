"""CSV tables, plain or gzipped (``.csv``, ``.csv.gz``), streamed with every column read as text.

Arrow's streaming reader is told that every column is text, so nothing is guessed: a code "01" or "04000"
arrives as written, and the spec's types decode it (:mod:`scrambler.readers._conform`). The separator is taken
from the header line (comma, semicolon as Belgian spreadsheets write it, tab or pipe). An empty field is
null. The file is read in blocks, so a 7.5-million-person table never sits in memory as text.
"""

from __future__ import annotations

import csv as _csv
import gzip
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from scrambler.errors import DataError, Issue
from scrambler.readers._raw import RawFile

SUFFIXES = (".csv", ".csv.gz")
DELIMITERS = ",;\t|"
BLOCK_BYTES = 8 << 20


def _header(path: Path) -> tuple[list[str], str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError([Issue(code="unreadable-file", file=str(path), message=f"not a UTF-8 CSV file: {exc}")]
                        ) from None
    if not line.strip():
        raise DataError([Issue(code="unreadable-file", file=str(path), message="the file has no header line")])
    delimiter = max(DELIMITERS, key=line.count)
    names = next(_csv.reader([line], delimiter=delimiter))
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError([Issue(code="duplicate-column", file=str(path), variable=", ".join(dup),
                               message="the header names this column more than once")])
    return names, delimiter


def columns(path: Path) -> list[str]:
    return _header(path)[0]


def open_raw(path: Path, wanted: Sequence[str] | None) -> RawFile:
    names, delimiter = _header(path)
    include = list(wanted) if wanted is not None else names
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=include,
                                   null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True)
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
                                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                                convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError([Issue(code="unreadable-file", file=str(path), message=f"not a readable CSV file: {exc}")]
                        ) from None

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (pa.ArrowInvalid, OSError) as exc:  # a ragged row or a broken gzip stream, found mid-file
            raise DataError([Issue(code="unreadable-file", file=str(path),
                                   message=f"not a readable CSV file: {exc}")]) from None

    return RawFile(columns=include, batches=batches())
