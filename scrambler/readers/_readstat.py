"""Stata, SPSS and SAS files through pyreadstat, read in chunks of :data:`CHUNK_ROWS` rows.

Values come as stored (numbers, text, dates); value labels are handed over so the decoder can map a
labelled number back to its code. Missing strings are empty text in these formats and become null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyreadstat

from scrambler.errors import DataError, Issue
from scrambler.readers._raw import CHUNK_ROWS, RawFile

Read = Callable[..., Any]


def _unreadable(path: Path, what: str, exc: Exception) -> DataError:
    return DataError([Issue(code="unreadable-file", file=str(path), message=f"not a readable {what} file: {exc}")])


def metadata(read: Read, path: Path, what: str) -> Any:
    try:
        return read(str(path), metadataonly=True)[1]
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, UnicodeError) as exc:
        raise _unreadable(path, what, exc) from None


def open_raw(read: Read, path: Path, wanted: Sequence[str] | None, what: str) -> RawFile:
    meta = metadata(read, path, what)
    names = list(meta.column_names)
    include = list(wanted) if wanted is not None else names
    labels = {column: {float(k): str(v) for k, v in value_labels.items()}
              for column, value_labels in (meta.variable_value_labels or {}).items() if column in include}
    column_labels = {c: str(lab) for c, lab in zip(names, meta.column_labels or [], strict=False) if lab}

    def batches() -> Iterator[pa.RecordBatch]:
        if not include:
            return
        try:
            for frame, _ in pyreadstat.read_file_in_chunks(read, str(path), chunksize=CHUNK_ROWS,
                                                           usecols=include):
                yield from pa.Table.from_pandas(frame, preserve_index=False).to_batches()
        except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, UnicodeError) as exc:
            raise _unreadable(path, what, exc) from None

    return RawFile(columns=include, batches=batches(), value_labels=labels, column_labels=column_labels)
