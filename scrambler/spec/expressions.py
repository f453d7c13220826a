"""A safe parser for the linear expressions of compare rules.

Grammar (no other syntax exists; nothing is ever evaluated as Python)::

    expression := term (('+' | '-') term)*
    term       := NUMBER [unit] | NAME ['.' NAME] [unit] | 'previous(' NAME ')' [unit]
                                                          (no unit after a period word)
    unit       := 'years' | 'year' | 'quarters' | 'quarter' | 'months' | 'month'

NAME is a variable, ``var.attribute`` (a numeric column of the variable's code list) or one of the period
words ``period``, ``period_start``, ``period_end``. ``previous(NAME)`` is the variable's value at the panel's
previous period (null where the person was absent or it is the first period: the rule then holds vacuously,
as with any null term), so ``x - previous(x)`` is a year-to-year difference. A leading '-' negates the first
term.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERIOD_WORDS = ("period", "period_start", "period_end")
UNITS = {"year": "year", "years": "year", "quarter": "quarter", "quarters": "quarter", "month": "month",
         "months": "month"}
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|previous\s*\(\s*(?P<lag>[A-Za-z_][A-Za-z0-9_]*)\s*\)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
                    r"|(?P<op>[+-]))")
MAX_LENGTH = 200


@dataclass(frozen=True)
class Term:
    sign: int  # +1 or -1
    kind: str  # number | variable | attribute | period | previous (a variable's value at the previous period)
    name: str = ""  # variable name, or period word
    attribute: str = ""
    number: float = 0.0
    unit: str | None = None  # numbers, attributes, number variables: the unit of the duration


@dataclass(frozen=True)
class Expression:
    text: str
    terms: tuple[Term, ...]

    def variables(self) -> tuple[str, ...]:
        """The variables read at the rule's own period."""
        return tuple(dict.fromkeys(t.name for t in self.terms if t.kind in ("variable", "attribute")))

    def lagged(self) -> tuple[str, ...]:
        """The variables read at the previous period (``previous(x)``)."""
        return tuple(dict.fromkeys(t.name for t in self.terms if t.kind == "previous"))


def parse_expression(text: object) -> Expression:
    """Parse an expression; ValueError with the position of the first problem."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"an expression must be a string or number, got {text!r}")
    source = str(text)
    if len(source) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected character {source[pos:].strip()[0]!r} at position {pos} in {source!r}")
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    if not tokens:
        raise ValueError("empty expression")
    terms: list[Term] = []
    i = 0
    sign = 1
    expect_term = True
    while i < len(tokens):
        kind, value = tokens[i]
        if expect_term:
            if kind == "op":
                if terms or value != "-" or sign == -1:
                    raise ValueError(f"unexpected {value!r} in {source!r}")
                sign = -1
                i += 1
                continue
            unit = None
            if i + 1 < len(tokens) and tokens[i + 1][0] == "name" and tokens[i + 1][1] in UNITS:
                unit = UNITS[tokens[i + 1][1]]
            if kind == "num":
                terms.append(Term(sign=sign, kind="number", number=float(value), unit=unit))
            elif kind == "lag":
                if value in PERIOD_WORDS or value in UNITS:
                    raise ValueError(f"previous() takes a variable, not {value!r}, in {source!r}")
                terms.append(Term(sign=sign, kind="previous", name=value, unit=unit))
            elif value in UNITS:
                raise ValueError(f"unit {value!r} must follow a number in {source!r}")
            elif value in PERIOD_WORDS:
                if unit:
                    raise ValueError(f"a unit cannot follow {value!r} in {source!r}")
                terms.append(Term(sign=sign, kind="period", name=value))
            elif "." in value:
                var, attr = value.split(".", 1)
                terms.append(Term(sign=sign, kind="attribute", name=var, attribute=attr, unit=unit))
            else:  # a unit after a number variable makes it a duration (checked against its type later)
                terms.append(Term(sign=sign, kind="variable", name=value, unit=unit))
            i += 2 if unit else 1
            expect_term = False
        else:
            if kind != "op":
                raise ValueError(f"expected + or - before {value!r} in {source!r}")
            sign = 1 if value == "+" else -1
            expect_term = True
            i += 1
    if expect_term:
        raise ValueError(f"expression {source!r} ends with an operator")
    return Expression(text=source, terms=tuple(terms))
