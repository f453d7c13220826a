"""SPSS export compressed with zlib (.zsav): the .sav export's variables, labels and measurement levels, with
the bytecode-compressed rows deflated in blocks, as SPSS 21 and later write with ``/ZCOMPRESSED``. Read by SPSS
21 and later, PSPP, pyreadstat and R haven; older SPSS versions need the ``spss`` format. Six tables of 100,000
persons: see docs/formats.md for bytes and seconds beside ``spss``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from scrambler.errors import Issue
from scrambler.formats import spss
from scrambler.formats.codebook import Codebook

SUFFIX = spss.ZSAV_SUFFIX


def export(tables: Mapping[str, pd.DataFrame], codebook: Codebook, out_dir: Path) -> list[Path]:
    """Write ``<table>.zsav`` per table; every name and value is checked before the first file is published."""
    return spss.export(tables, codebook, out_dir, compressed=True)


def check(columns: Mapping[str, Sequence[str]], codebook: Codebook) -> list[Issue]:
    """The names SPSS takes, as for ``spss``."""
    return spss.check(columns, codebook)
