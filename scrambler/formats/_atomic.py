"""Atomic file writes: a reader (or a crashed run) never sees half a file.

Every exporter writes to a hidden temporary name in the destination folder and renames it over the final
name with :func:`os.replace`, which is atomic on POSIX and Windows when both names are on the same file
system -- hence the same folder, never the system temp directory. On any error the temporary file is
removed and an older file under the final name is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: files written at once: encoding and writing release the GIL for most of their work (NumPy copies, Arrow's
#: CSV and Parquet writers, the file writes), so two tables on two cores took 0.75 of the time one after the
#: other (a 561,000-row Stata export: 2.9 -> 2.4 s, SPSS 4.3 -> 3.3 s)
WRITERS = 2


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it onto ``target``.

    The caller writes the temporary path with any library (pyreadstat, pyarrow, pandas) that wants a file
    name. The data are flushed to disk before the rename so that a power cut cannot leave an empty file
    under the final name.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer did not create {tmp}")
        with open(tmp, "r+b") as handle:  # writable: Windows refuses fsync on read-only handles
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(target: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and publish the result under ``target``; returns ``target``."""
    with atomic_path(target) as tmp:
        write(tmp)
    return target


def write_text_atomic(target: Path, text: str) -> Path:
    """Write UTF-8 text atomically with LF line ends (identical bytes on every platform)."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    return write_atomic(target, write)


def write_each(items: Iterable[T], write: Callable[[T], list[Path]]) -> list[Path]:
    """``write(item)`` for every item, up to WRITERS at once; the files in the items' order. Each file is
    written atomically; the first error is raised once the writes already started have ended."""
    work = list(items)
    if len(work) < 2:
        return [path for item in work for path in write(item)]
    with ThreadPoolExecutor(min(WRITERS, len(work))) as pool:
        return [path for paths in pool.map(write, work) for path in paths]
