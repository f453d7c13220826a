"""Stata export (.dta, format 118 = Stata 14 and later) with variable and value labels.

Format 118 rather than pyreadstat's default 119: 119 exists only for more than 32,767 variables and cannot
be opened by Stata 14, while 118 is read by every current Stata, R haven and pandas. Recoding follows the
shared label policy in :mod:`scrambler.formats._labelled`. Stata caps variable labels at 80 characters, so
longer labels are cut (ending in "..."); the full labels are always in the codebook.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyreadstat

from scrambler.formats._atomic import write_atomic
from scrambler.formats._labelled import FILE_LABEL, LabelledTable, Limit, build
from scrambler.formats._names import STATA
from scrambler.formats.codebook import Codebook

SUFFIX = ".dta"
DTA_VERSION = 14
VARIABLE_LABEL = Limit(chars=80)
VALUE_LABEL = Limit(chars=32_000)
FILE_LABEL_LIMIT = Limit(chars=80)


def write(table: LabelledTable, target: Path) -> Path:
    """Write one recoded table atomically."""

    def run(tmp: Path) -> None:
        pyreadstat.write_dta(
            table.frame,
            tmp,
            file_label=FILE_LABEL_LIMIT(FILE_LABEL.format(table=table.name)),
            column_labels=dict(table.column_labels),
            version=DTA_VERSION,
            variable_value_labels={k: dict(v) for k, v in table.value_labels.items()},
        )

    return write_atomic(target, run)


def export(tables: Mapping[str, pd.DataFrame], codebook: Codebook, out_dir: Path) -> list[Path]:
    """Write ``<table>.dta`` per table; every name and value is checked before the first file is written."""
    built = build(tables, codebook, STATA, VARIABLE_LABEL, VALUE_LABEL)
    return [write(table, out_dir / f"{table.name}{SUFFIX}") for table in built]
