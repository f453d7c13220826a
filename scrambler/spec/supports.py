"""Which single-variable constraints each type supports: one table, enforced by ``validate`` and shown in the docs.

Names are Table Schema's plus ``forbidden``. A type lists a constraint only where the engine enforces it (the
domain, the sampler and ``check``), so a spec cannot declare a constraint that is stored and never checked:
Table Schema allows ``enum`` and ``unique`` on numbers, but here a number's domain is an interval minus the
``forbidden`` values, and only identifiers are checked for uniqueness. ``pattern`` is Table Schema's string
constraint: it applies to the codes of categorical and ordinal variables (strings), not to numbers or times.
Plain importable mapping, so that exports (datapackage.json) can reuse it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from scrambler.spec.model import TYPES

_CODES = frozenset({"required", "enum", "forbidden", "pattern"})
_NUMBERS = frozenset({"required", "minimum", "maximum", "forbidden"})

SUPPORTED: Mapping[str, frozenset[str]] = MappingProxyType({
    "categorical": _CODES,
    "ordinal": _CODES | {"minimum", "maximum"},  # bounds are codes, in the code list's order
    "boolean": frozenset({"required", "enum", "forbidden"}),
    "integer": _NUMBERS,
    "decimal": _NUMBERS,
    "year": _NUMBERS,
    "year_month": _NUMBERS,
    "year_quarter": _NUMBERS,
    "identifier": frozenset({"required", "unique"}),
})

# the order of the columns of the docs table (every constraint the language knows)
CONSTRAINTS = ("required", "unique", "minimum", "maximum", "enum", "forbidden", "pattern")

assert set(SUPPORTED) == set(TYPES), "every type needs a row in SUPPORTED"
assert set().union(*SUPPORTED.values()) <= set(CONSTRAINTS)


def docs_table() -> str:
    """The markdown table of docs/spec-language.md (a test keeps the page equal to it)."""
    lines = ["| type | " + " | ".join(f"`{c}`" for c in CONSTRAINTS) + " |",
             "|---|" + "---|" * len(CONSTRAINTS)]
    for vtype in TYPES:
        cells = ["yes" if c in SUPPORTED[vtype] else "" for c in CONSTRAINTS]
        lines.append(f"| `{vtype}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
