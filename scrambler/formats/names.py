"""Name checks every format shares, on names alone (no data, no pandas): a spec is checked against them
before any work starts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from scrambler.errors import Issue
from scrambler.formats.codebook import Codebook

#: Table names become file names: keep them to characters every file system and tool accepts.
TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def column_issues(columns: Mapping[str, Sequence[str]], codebook: Codebook) -> list[Issue]:
    """:func:`resolve`'s checks on names only (table -> column names), for checking a spec before any data."""
    issues: list[Issue] = []
    for table, names in columns.items():
        if not TABLE_NAME.match(table):
            issues.append(
                Issue("invalid-table-name", f"table name {table!r} is not usable as a file name", table=table)
            )
        issues += [
            Issue("unknown-column", "column is not in the codebook", table=table, variable=name)
            for name in names
            if codebook.column(table, name) is None
        ]
    return issues
