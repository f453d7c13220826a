"""Export layer: hand researchers their tables in the tool they use (see docs/formats.md).

One module per format; :func:`export_tables` is the single entry point. Each exporter checks every table
and column before writing its first file (all problems in one :class:`~scrambler.errors.DataError`), and
writes every file atomically, so a failed or interrupted export never leaves a half-written file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from scrambler.errors import Issue, ScramblerError
from scrambler.formats import csv, parquet, sas, spss, stata
from scrambler.formats._common import column_issues
from scrambler.formats.codebook import Codebook, ColumnInfo

Exporter = Callable[[Mapping[str, pd.DataFrame], Codebook, Path], list[Path]]

EXPORTERS: dict[str, Exporter] = {
    "parquet": parquet.export,
    "csv": csv.export,
    "stata": stata.export,
    "spss": spss.export,
    "sas": sas.export,
}
FORMATS: tuple[str, ...] = tuple(EXPORTERS)
#: Each format's name checks on column names alone (table -> column names), beyond every format's column check
NameCheck = Callable[[Mapping[str, Sequence[str]], Codebook], list[Issue]]
CHECKS: dict[str, NameCheck] = {
    "parquet": lambda columns, codebook: [],
    "csv": csv.check,
    "stata": stata.check,
    "spss": spss.check,
    "sas": sas.check,
}


def export_tables(
    tables: Mapping[str, pd.DataFrame], codebook: Codebook, fmt: str, out_dir: Path
) -> list[Path]:
    """Write ``tables`` in format ``fmt`` into ``out_dir`` (created if needed); return the files written.

    Existing files of the same names are replaced (atomically); other files in ``out_dir`` are left alone.
    Raises :class:`~scrambler.errors.DataError` listing every column that the format cannot represent.
    """
    exporter = EXPORTERS.get(fmt)
    if exporter is None:
        raise ScramblerError([Issue("unknown-format", f"format {fmt!r} is not one of {', '.join(FORMATS)}")])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return exporter(tables, codebook, out_dir)


def check_export(columns: Mapping[str, Sequence[str]], codebook: Codebook, fmt: str) -> list[Issue]:
    """The name problems ``export_tables`` would raise for tables with these columns (table -> column names)
    in ``fmt``, without any data: ``validate`` and ``scramble --format`` run it before any work starts."""
    check = CHECKS.get(fmt)
    if check is None:
        return [Issue("unknown-format", f"format {fmt!r} is not one of {', '.join(FORMATS)}")]
    return column_issues(columns, codebook) + check(columns, codebook)


__all__ = ["FORMATS", "Codebook", "ColumnInfo", "check_export", "export_tables"]
