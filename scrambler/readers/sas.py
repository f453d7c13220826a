"""SAS data sets: ``.sas7bdat`` and transport files (``.xpt``, XPORT versions 5 and 8).

SAS keeps value labels in a separate format catalog, which these files do not carry: coded variables are
read as the values stored (text codes as text; numeric codes as their number, which the spec's code list
turns back into the code).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyreadstat

from scrambler.readers import _readstat
from scrambler.readers._raw import RawFile

SUFFIXES = (".sas7bdat", ".xpt")


def _read(path: Path) -> _readstat.Read:
    return pyreadstat.read_xport if path.name.lower().endswith(".xpt") else pyreadstat.read_sas7bdat


def columns(path: Path) -> list[str]:
    return list(_readstat.metadata(_read(path), path, "SAS").column_names)


def open_raw(path: Path, wanted: Sequence[str] | None) -> RawFile:
    return _readstat.open_raw(_read(path), path, wanted, "SAS")
