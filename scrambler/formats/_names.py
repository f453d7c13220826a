"""Variable-name rules of Stata, SPSS and SAS.

Names are checked, never silently shortened: a researcher's script refers to columns by name, and a name that
differs between the CSV and the .dta file would break exactly the portability these exports are for. A bad
name is reported with its table and column so the spec can be fixed once for every format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from scrambler.errors import Issue


@dataclass(frozen=True)
class NameRule:
    """The naming rules of one statistical package."""

    package: str
    max_length: int
    pattern: re.Pattern[str]
    described: str
    reserved: frozenset[str] = field(default_factory=frozenset)
    reserved_pattern: re.Pattern[str] | None = None
    case_insensitive: bool = False
    length_in_bytes: bool = False

    def problems(self, name: str) -> list[tuple[str, str]]:
        """(issue code, message) for every rule ``name`` breaks."""
        found: list[tuple[str, str]] = []
        size = len(name.encode("utf-8")) if self.length_in_bytes else len(name)
        unit = "bytes" if self.length_in_bytes else "characters"
        if size > self.max_length:
            found.append(
                (
                    "name-too-long",
                    f"{self.package} name {name!r} has {size} {unit}; {self.package} allows at most "
                    f"{self.max_length}. Rename the variable in the specification.",
                )
            )
        if not self.pattern.fullmatch(name):
            found.append(("invalid-name", f"{self.package} name {name!r} is invalid: {self.described}"))
        key = name.upper() if self.case_insensitive else name
        if key in self.reserved or (self.reserved_pattern and self.reserved_pattern.fullmatch(name)):
            found.append(("reserved-name", f"{name!r} is a reserved word in {self.package}"))
        return found


STATA_WRITER_RESERVED = (
    "aggregate array boolean break case catch class colvector complex const continue default delegate delete do "
    "else eltypedef end enum explicit export external for friend function global goto inline local NULL pragma "
    "protected quad rowvector short typedef typename virtual _se"
).split()

STATA = NameRule(
    package="Stata",
    max_length=32,
    pattern=re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    described="use ASCII letters, digits and underscores, not starting with a digit",
    # Stata's reserved names, plus the Mata words that the Stata writer (pandas) refuses as column names
    reserved=frozenset(
        "_all _b byte _coef _cons double float if in int long _n _N _pi _pred _rc _skip strL using with".split()
        + STATA_WRITER_RESERVED
    ),
    reserved_pattern=re.compile(r"str[0-9]+"),
)
SPSS = NameRule(
    package="SPSS",
    max_length=64,
    pattern=re.compile(r"[A-Za-z@][A-Za-z0-9_.@#$]*(?<!\.)"),
    described="start with a letter; use letters, digits and _ . @ # $; do not end with a period",
    reserved=frozenset("ALL AND BY EQ GE GT LE LT NE NOT OR TO WITH".split()),
    case_insensitive=True,
    length_in_bytes=True,
)
SAS = NameRule(
    package="SAS",
    max_length=32,
    pattern=re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    described="use ASCII letters, digits and underscores, not starting with a digit",
    reserved=frozenset(
        "_N_ _ERROR_ _ALL_ _NUMERIC_ _CHARACTER_ _INFILE_ _IORC_ _CMD_ _MSG_ _TEMPORARY_".split()
    ),
    case_insensitive=True,
)


def check_names(rule: NameRule, names: Iterable[tuple[str, str, str]]) -> list[Issue]:
    """Check (table, output name, source column) triples; also catch duplicates within a table.

    The source column is what the issue names, because that is what the user can rename; the output
    name differs only for generated companions such as ``sex_code``.
    """
    issues: list[Issue] = []
    seen: dict[tuple[str, str], str] = {}
    for table, name, source in names:
        for code, message in rule.problems(name):
            if name != source:
                message = f"{message} (generated from column {source!r})"
            issues.append(Issue(code, message, table=table, variable=source))
        key = (table, name.upper() if rule.case_insensitive else name)
        if key in seen:
            other = seen[key]
            issues.append(
                Issue(
                    "duplicate-name",
                    f"{rule.package} name {name!r} is used twice (for columns {other!r} and {source!r})"
                    + (f"; {rule.package} names are case-insensitive" if rule.case_insensitive else ""),
                    table=table,
                    variable=source,
                )
            )
        else:
            seen[key] = source
    return issues
