"""Errors as data.

Every problem the engine finds is an :class:`Issue`: a stable ``code`` (a slug such as ``unknown-variable``),
a human message, and where it was found (file, rule, variable, table, row). Functions that can find many
problems collect them and raise one exception carrying the list, so a user sees every problem at once.

Exception tree::

    ScramblerError                 base of everything this package raises on purpose
     +-- SpecError                 a specification is invalid (carries issues)
     +-- DataError                 input data do not fit the specification (carries issues)
     +-- UnsatisfiableError        the constraints cannot be met for some rows (carries issues)
     +-- OutputExistsError         the output folder exists and --force was not given
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from scrambler.codes import MEANINGS


@dataclass(frozen=True)
class Issue:
    """One problem, with a stable code and its location."""

    code: str
    message: str
    file: str | None = None
    rule: str | None = None
    variable: str | None = None
    table: str | None = None
    row: str | None = None

    def __post_init__(self) -> None:
        # Codes come from one catalogue (scrambler/codes.py, docs/errors.md). The test suite sets
        # SCRAMBLER_STRICT_CODES so that a code missing from it fails loudly there; a user never gets a
        # traceback for it.
        if os.environ.get("SCRAMBLER_STRICT_CODES") and self.code not in MEANINGS:
            raise ValueError(f"error code {self.code!r} is not in scrambler/codes.py")

    def location(self) -> str:
        parts = []
        for key in ("file", "table", "rule", "variable", "row"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key} {value}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"[{self.code}] {where}: {self.message}" if where else f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class ScramblerError(Exception):
    """Base class: carries a list of issues; str() shows the first few and "+N more"."""

    def __init__(self, issues: Iterable[Issue], *, shown: int = 20) -> None:
        if isinstance(issues, str):  # a bare message would have no catalogued code
            raise TypeError("ScramblerError takes Issues with a code from scrambler/codes.py, not a string")
        self.issues: list[Issue] = list(issues)
        lines = [str(i) for i in self.issues[:shown]]
        if len(self.issues) > shown:
            lines.append(f"+{len(self.issues) - shown} more")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[ScramblerError], tuple[list[Issue]]]:
        # rebuilt from its issues (Exception's default passes the message string, which __init__ refuses):
        # an error raised in the process drawing the second half of the persons is raised again here
        return (type(self), (self.issues,))


class SpecError(ScramblerError):
    """The specification is invalid."""


class DataError(ScramblerError):
    """Input data do not fit the specification."""


class UnsatisfiableError(ScramblerError):
    """Constraints cannot be met."""


class OutputExistsError(ScramblerError):
    """The output folder exists and overwriting was not asked for."""
