"""Export layer: hand researchers their tables in the tool they use (see docs/formats.md).

One module per format; :func:`export_tables` is the single entry point. Each exporter checks every table
and column before publishing its first file (all problems in one :class:`~scrambler.errors.DataError`), and
writes every file atomically, so a failed or interrupted export never leaves a half-written file. (The
labelled formats recode a table while another is written, under hidden names published together at the end:
:func:`~scrambler.formats._labelled.export_each`.)
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from scrambler.errors import Issue, ScramblerError
from scrambler.formats._atomic import write_text_atomic
from scrambler.formats.codebook import Codebook, ColumnInfo
from scrambler.formats.names import column_issues

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: The registry: a format's name is its module here, which holds ``export(tables, codebook, out_dir)`` and,
#: where the format restricts names, ``check(columns, codebook)``. Modules are imported when a format is
#: used: they import pandas and pyreadstat (0.35 s), which a run that writes Parquet only never needs.
FORMATS: tuple[str, ...] = ("parquet", "csv", "stata", "spss", "zsav", "sas")
#: The formats whose module restricts names beyond every format's column check (a ``check`` function)
NAME_RULES: tuple[str, ...] = ("csv", "stata", "spss", "zsav", "sas")
#: The formats a Data Package can describe (Frictionless reads them), so their folder gets its own
#: ``datapackage.json`` (the module's ``SUFFIX`` names the files). Frictionless 5.21 reads Parquet through
#: pandas at a cost per row that grows with the square of the columns (2,000 persons of a 122-column spec:
#: 61 s against 3.5 s for the same tables as CSV), so a large folder is validated through its CSV export.
PACKAGED: tuple[str, ...] = ("parquet", "csv")


def _module(fmt: str) -> ModuleType | None:
    return importlib.import_module(f"scrambler.formats.{fmt}") if fmt in FORMATS else None


def export_tables(
    tables: Mapping[str, pd.DataFrame], codebook: Codebook, fmt: str, out_dir: Path
) -> list[Path]:
    """Write ``tables`` in format ``fmt`` into ``out_dir`` (created if needed); return the files written.

    Existing files of the same names are replaced (atomically); other files in ``out_dir`` are left alone.
    Raises :class:`~scrambler.errors.DataError` listing every column that the format cannot represent.
    """
    module = _module(fmt)
    if module is None:
        raise ScramblerError([Issue("unknown-format", f"format {fmt!r} is not one of {', '.join(FORMATS)}")])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return module.export(tables, codebook, out_dir)  # type: ignore[no-any-return]


def frames(tables: Mapping[str, pa.Table]) -> dict[str, pd.DataFrame]:
    """Arrow tables as the pandas frames ``export_tables`` takes, booleans as pandas' nullable booleans: as
    Python objects (Arrow's default for a boolean column with nulls) every export read them cell by cell
    (0.9 s of a 561,000-row Stata export)."""
    import pandas as pd
    import pyarrow as pa

    booleans = {pa.bool_(): pd.BooleanDtype()}
    return {name: table.to_pandas(types_mapper=booleans.get) for name, table in tables.items()}


def export_package(descriptor: Mapping[str, Any], fmt: str, out_dir: Path) -> Path | None:
    """Write ``out_dir/datapackage.json``: ``descriptor`` (the dataset folder's, see
    :func:`scrambler.package.datapackage`) with each resource pointing at the file this format wrote, so the
    export folder is a Data Package of its own. None for a format no Data Package reader takes."""
    from scrambler.package import (  # here: the package builder imports the codebook, which imports us
        FILE,
        retarget,
    )

    module = _module(fmt) if fmt in PACKAGED else None
    if module is None:
        return None
    text = json.dumps(retarget(descriptor, fmt, module.SUFFIX), indent=2, ensure_ascii=False) + "\n"
    return write_text_atomic(Path(out_dir) / FILE, text)


def check_export(columns: Mapping[str, Sequence[str]], codebook: Codebook, fmt: str) -> list[Issue]:
    """The name problems ``export_tables`` would raise for tables with these columns (table -> column names)
    in ``fmt``, without any data: ``validate`` and ``scramble --format`` run it before any work starts."""
    if fmt not in FORMATS:
        return [Issue("unknown-format", f"format {fmt!r} is not one of {', '.join(FORMATS)}")]
    module = _module(fmt) if fmt in NAME_RULES else None
    return column_issues(columns, codebook) + (module.check(columns, codebook) if module is not None else [])


__all__ = ["FORMATS", "Codebook", "ColumnInfo", "check_export", "export_package", "export_tables", "frames"]
