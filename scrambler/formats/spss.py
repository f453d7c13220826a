"""SPSS export (.sav) with variable labels, value labels and measurement levels.

Uses the same recoding as Stata (:mod:`scrambler.formats._labelled`) so one analysis plan fits both
packages, even though SPSS could label short strings: a labelled string is not usable as a factor in
SPSS procedures, a labelled number is. Measurement levels are set (nominal, ordinal, scale) because SPSS
procedures and the Chart Builder use them to choose defaults. SPSS keeps at most 120 bytes of a value label
and 256 of a variable label; longer labels are cut (ending in "...").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from scrambler.errors import Issue
from scrambler.formats._atomic import Save, write_atomic
from scrambler.formats._common import masked_parts
from scrambler.formats._labelled import FILE_LABEL, LabelledTable, Limit, export_each, name_issues
from scrambler.formats._names import SPSS
from scrambler.formats._sav import prepare, write_sav
from scrambler.formats._texts import is_text
from scrambler.formats.codebook import Codebook

SUFFIX = ".sav"
ZSAV_SUFFIX = ".zsav"
VARIABLE_LABEL = Limit(bytes=256)
VALUE_LABEL = Limit(bytes=120)
FILE_LABEL_LIMIT = Limit(bytes=64)
MEASURES: dict[str, str] = {
    "categorical": "nominal",
    "ordinal": "ordinal",
    "boolean": "nominal",
    "integer": "scale",
    "decimal": "scale",
    "string": "nominal",
    "identifier": "nominal",
    "code": "nominal",
}


def formats(table: LabelledTable) -> dict[str, str]:
    """Display formats: whole numbers without the default two decimals (F8.2 would show 111.00)."""
    out: dict[str, str] = {}
    for name, role in table.roles.items():
        column = table.frame[name]
        if role == "decimal" or is_text(column):
            continue
        # the widest whole number is the largest or the smallest (a minus sign counts): two texts, not one
        # per cell (10 s of a 32 s export of 190,000 rows); nulls skipped from the column's own mask
        parts = masked_parts(column)
        if parts is not None:
            held = parts[0][~parts[1]] if parts[1].any() else parts[0]
            high, low = (held.max(), held.min()) if len(held) else (np.nan, np.nan)
        else:
            high, low = column.max(skipna=True), column.min(skipna=True)
        digits = max(len(str(int(high))), len(str(int(low)))) if pd.notna(high) else 1
        out[name] = f"F{min(max(digits, 1), 40)}.0"
    return out


def write(table: LabelledTable, target: Path, compressed: bool = False, save: Save = write_atomic) -> Path:
    """Write one recoded table atomically (``save``: published at once, or staged with the others);
    ``compressed``: as a .zsav file (zlib blocks)."""
    frame = table.frame
    file_label = FILE_LABEL_LIMIT(FILE_LABEL.format(table=table.name))
    note = FILE_LABEL.format(table=table.name)
    display = formats(table)
    measures = {k: MEASURES[v] for k, v in table.roles.items()}
    texts = [*table.column_labels.values(), *(text for labels in table.value_labels.values() for text in labels.values())]
    prepared = prepare(frame, display, note, texts, table.groupings)
    if prepared is not None:
        # whole columns (see _sav); the same bytes pyreadstat writes, which remains the writer otherwise
        def fast(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                write_sav(prepared, len(frame), handle, file_label, dict(table.column_labels), note,
                          {k: dict(v) for k, v in table.value_labels.items()}, measures, zlib_blocks=compressed)

        return save(target, fast)

    # whole numbers as doubles (SPSS stores every number as one): pyreadstat walks the frame cell by cell, and
    # a nullable integer cell costs a masked-array lookup and a null test each; it writes a category column's
    # texts as they are (tested), so text needs no conversion
    frame = frame.astype({name: "float64" for name, dtype in frame.dtypes.items()
                          if pd.api.types.is_extension_array_dtype(dtype) and dtype.kind in "iub"})

    def run(tmp: Path) -> None:
        pyreadstat.write_sav(
            frame,
            tmp,
            file_label=file_label,
            column_labels=dict(table.column_labels),
            note=note,
            variable_value_labels={k: dict(v) for k, v in table.value_labels.items()},
            variable_measure=measures,
            variable_format=display,
            # SPSS's own bytecode compression, which every SPSS version reads, or that in zlib blocks (.zsav)
            row_compress=not compressed,
            compress=compressed,
        )

    return save(target, run)


def export(tables: Mapping[str, pd.DataFrame], codebook: Codebook, out_dir: Path, compressed: bool = False
           ) -> list[Path]:
    """Write ``<table>.sav`` per table (``<table>.zsav`` if ``compressed``); every name and value is checked
    before the first file is published."""
    suffix = ZSAV_SUFFIX if compressed else SUFFIX
    return export_each(tables, codebook, SPSS, VARIABLE_LABEL, VALUE_LABEL, lambda table, save: [
        write(table, out_dir / f"{table.name}{suffix}", compressed, save)])


def check(columns: Mapping[str, Sequence[str]], codebook: Codebook) -> list[Issue]:
    """Name problems of an export of these columns (table -> column names), before any data exist."""
    return name_issues(columns, codebook, SPSS)
