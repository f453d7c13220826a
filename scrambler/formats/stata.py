"""Stata export (.dta, format 118 = Stata 14 and later) with variable and value labels.

Format 118: read by every current Stata, R haven and pandas (119 exists only for more than 32,767 variables and
cannot be opened by Stata 14). Recoding follows the shared label policy in :mod:`scrambler.formats._labelled`.
Stata caps variable labels at 80 characters, so longer labels are cut (ending in "..."); the full labels are
always in the codebook.

Written with pandas' Stata writer, not pyreadstat: pyreadstat names each value-label set after its column plus a
running counter (``province0``, ``province1``, ...), so a column of 31 or 32 characters overflows Stata's
32-character limit for label names and the write fails. pandas names the label set after the column itself, which
the name check has already held to 32 characters, so the label names are short, unique and stable.

Stata has no compression, so each number takes the smallest storage type that holds its column, as Stata's own
``compress`` would choose: codes, booleans, years and whole numbers as byte, int or long (a null is that type's
system missing "."), decimals as doubles. Six tables of 100,000 persons took 595 MB with every number a double.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.stata import InvalidColumnName

from scrambler.errors import DataError, Issue
from scrambler.formats._atomic import Save, write_atomic
from scrambler.formats._common import masked_parts
from scrambler.formats._dta import INTEGERS, MAX_STR, prepare, write_dta
from scrambler.formats._labelled import FILE_LABEL, LabelledTable, Limit, export_each, name_issues
from scrambler.formats._names import STATA
from scrambler.formats._texts import is_text, plain_text
from scrambler.formats.codebook import Codebook

SUFFIX = ".dta"
DTA_VERSION = 118
VARIABLE_LABEL = Limit(chars=80)
VALUE_LABEL = Limit(chars=32_000)
FILE_LABEL_LIMIT = Limit(chars=80)




def storage(values: np.ndarray, kind: str) -> str:
    """The smallest type for a column of doubles (NaN = null): a decimal variable stays a double whatever its
    values (a scrambled set with whole wages must not load as integers where the population has cents)."""
    if kind == "decimal":
        return "float64"
    finite = values[~np.isnan(values)]
    if len(finite) and not np.array_equal(finite, np.trunc(finite)):
        return "float64"
    return smallest(*((finite.min(), finite.max()) if len(finite) else (0.0, 0.0)))


def smallest(low: float, high: float) -> str:
    """The smallest of Stata's integer types holding every value from ``low`` to ``high``, else float64."""
    return next((name for name, kind in INTEGERS.items() if kind.low <= low and high <= kind.high), "float64")


def frame_for_stata(table: LabelledTable) -> pd.DataFrame:
    """The frame as Stata stores it: numbers in the smallest type that holds them (:func:`storage`), nulls
    as missing. Built from whole arrays into one new frame: a frame copied and then set column by column
    cost ~0.1 ms a column in pandas' bookkeeping alone."""
    columns: dict[str, object] = {}
    for name in table.frame.columns:
        columns[name] = _stored(table.frame[name], table.roles.get(name, ""))
    return pd.DataFrame(columns, index=table.frame.index, copy=False)


def _stored(column: pd.Series, role: str) -> object:
    """One column of :func:`frame_for_stata`: text as it is, numbers as a nullable Int8/16/32 array or doubles
    with NaN for null."""
    if is_text(column):
        return column  # as a Series: from its array, pandas would test every cell for a null (2.7 ms a column)
    parts = masked_parts(column)
    if parts is not None and parts[0].dtype.kind in "iu" and role != "decimal":  # codes, years, booleans
        data, missing = parts  # no float copy, no whole-number test
        kind = smallest(*((data.min(), data.max()) if len(data) else (0, 0)))
        if kind != "Int8" and missing.any():  # the values under the mask may have widened it: the held ones
            held = data[~missing]  # (a copy: most columns are bytes, for which the first answer stands)
            kind = smallest(*((held.min(), held.max()) if len(held) else (0, 0)))
        if kind != "float64":
            return pd.arrays.IntegerArray(data.astype(kind.lower()), missing)  # the mask shared, as read
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    kind = storage(values, role)
    if kind == "float64":
        return values
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(kind.lower()), missing)


def long_text(frame: pd.DataFrame) -> list[str]:
    """The text columns too long for a fixed-width string (strLs)."""
    # by distinct value: a text column of a coded variable holds a handful (9 s of a 26 s export)
    return [name for name in frame.columns if frame[name].dtype == object
            and max((len(str(v).encode("utf-8")) for v in pd.unique(frame[name].to_numpy())), default=0)
            > MAX_STR]


def write(table: LabelledTable, target: Path, save: Save = write_atomic) -> Path:
    """Write one recoded table atomically (``save``: published at once, or staged with the others)."""
    frame = frame_for_stata(table)
    data_label = FILE_LABEL_LIMIT(FILE_LABEL.format(table=table.name))
    value_labels = {k: dict(v) for k, v in table.value_labels.items()}
    prepared = prepare(frame, table.groupings, ranged=True)  # frame_for_stata chose each type by its range
    if prepared is not None:
        # whole columns (see _dta); the same bytes pandas writes, which remains the writer for strLs
        def fast(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                write_dta(frame, prepared, handle, data_label, dict(table.column_labels), value_labels)

        return save(target, fast)

    frame = plain_text(frame)

    def run(tmp: Path) -> None:
        with warnings.catch_warnings():
            # pandas silently renames a name Stata would not accept; names were checked, so a rename is a bug
            warnings.simplefilter("error", InvalidColumnName)
            frame.to_stata(
                tmp,
                write_index=False,
                version=DTA_VERSION,
                data_label=data_label,
                variable_labels=dict(table.column_labels),
                value_labels=value_labels,
                convert_strl=long_text(frame),
            )

    try:
        return save(target, run)
    except InvalidColumnName as exc:
        raise DataError([Issue("invalid-name", f"the Stata writer would rename columns: {exc}",
                               table=table.name)]) from None


def export(tables: Mapping[str, pd.DataFrame], codebook: Codebook, out_dir: Path) -> list[Path]:
    """Write ``<table>.dta`` per table; every name and value is checked before the first file is published."""
    return export_each(tables, codebook, STATA, VARIABLE_LABEL, VALUE_LABEL,
                       lambda table, save: [write(table, out_dir / f"{table.name}{SUFFIX}", save)])


def check(columns: Mapping[str, Sequence[str]], codebook: Codebook) -> list[Issue]:
    """Name problems of an export of these columns (table -> column names), before any data exist."""
    return name_issues(columns, codebook, STATA)
