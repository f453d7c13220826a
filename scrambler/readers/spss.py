"""SPSS files (``.sav``, and ``.zsav``: zlib-compressed, SPSS 21 and later) with their value labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyreadstat

from scrambler.readers import _readstat
from scrambler.readers._raw import RawFile

SUFFIXES = (".sav", ".zsav")


def columns(path: Path) -> list[str]:
    return list(_readstat.metadata(pyreadstat.read_sav, path, "SPSS").column_names)


def open_raw(path: Path, wanted: Sequence[str] | None) -> RawFile:
    return _readstat.open_raw(pyreadstat.read_sav, path, wanted, "SPSS")
