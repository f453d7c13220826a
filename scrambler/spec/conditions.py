"""Conditions of implication rules, as data.

A condition maps variable names to tests (several keys: all must hold) or combines conditions with
``all``/``any``/``not``. Tests: ``{in: [..]}``, ``{not_in: [..]}``, ``{is: null}``, ``{is: present}``,
``{min: a, max: b}``, ``{eq: v}``. Values stay as written (strings, numbers, booleans) until compiled against
the variables' code lists.

Null semantics (documented in docs/spec-language.md): ``in``/``eq``/``min``/``max`` are false for null;
``not_in`` is true for null.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TEST_KEYS = ("in", "not_in", "is", "min", "max", "eq")


@dataclass(frozen=True)
class Test:
    op: str  # in | not_in | null | present | range
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None

    def describe(self) -> str:
        if self.op in ("in", "not_in"):
            return f"{self.op.replace('_', ' ')} {list(self.values)}"
        if self.op in ("null", "present"):
            return f"is {self.op}"
        return f"between {self.low} and {self.high}"


@dataclass(frozen=True)
class Condition:
    """A tree: kind 'atom' (variable + test) or 'all' / 'any' / 'not' over children."""

    kind: str
    variable: str | None = None
    test: Test | None = None
    children: tuple[Condition, ...] = ()

    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.variable for a in self.atoms() if a.variable))

    def atoms(self) -> Iterator[Condition]:
        if self.kind == "atom":
            yield self
        for child in self.children:
            yield from child.atoms()

    def describe(self) -> str:
        if self.kind == "atom":
            assert self.test is not None
            return f"{self.variable} {self.test.describe()}"
        if self.kind == "not":
            return f"not ({self.children[0].describe()})"
        joiner = " and " if self.kind == "all" else " or "
        return "(" + joiner.join(c.describe() for c in self.children) + ")"


def _scalar(value: Any) -> Any:
    """Normalise a YAML scalar: booleans -> 'true'/'false', numbers kept, everything else as str."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if value is None:
        raise ValueError("a value list may not contain null; use {is: null}")
    if isinstance(value, (list, dict)):
        raise ValueError(f"expected a single value, got {value!r}")
    return str(value)


def parse_test(obj: Any) -> Test:
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"a test must be a mapping such as {{in: [...]}}, got {obj!r}")
    unknown = [k for k in obj if k not in TEST_KEYS]
    if unknown:
        raise ValueError(f"unknown test key {unknown[0]!r}; expected one of {', '.join(TEST_KEYS)}")
    if "in" in obj or "not_in" in obj:
        key = "in" if "in" in obj else "not_in"
        if len(obj) != 1:
            raise ValueError(f"'{key}' cannot be combined with other test keys")
        values = obj[key]
        if not isinstance(values, list) or not values:
            raise ValueError(f"'{key}' needs a non-empty list, got {values!r}")
        return Test(op=key, values=tuple(_scalar(v) for v in values))
    if "eq" in obj:
        if len(obj) != 1:
            raise ValueError("'eq' cannot be combined with other test keys")
        return Test(op="in", values=(_scalar(obj["eq"]),))
    if "is" in obj:
        if len(obj) != 1:
            raise ValueError("'is' cannot be combined with other test keys")
        what = obj["is"]
        if what is None or what == "null":
            return Test(op="null")
        if what == "present":
            return Test(op="present")
        raise ValueError(f"'is' takes null or present, got {what!r}")
    low = _scalar(obj["min"]) if obj.get("min") is not None else None
    high = _scalar(obj["max"]) if obj.get("max") is not None else None
    if low is None and high is None:
        raise ValueError("a range test needs min or max")
    return Test(op="range", low=low, high=high)


MAX_DEPTH = 20  # all/any/not levels in one condition; real rules use 3, and evaluation recurses per level


def parse_condition(obj: Any, depth: int = 0) -> Condition:
    if depth > MAX_DEPTH:
        raise ValueError(f"the condition nests all/any/not deeper than {MAX_DEPTH} levels")
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"a condition must be a non-empty mapping, got {_short(obj)}")
    parts: list[Condition] = []
    for key, value in obj.items():
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"'{key}' needs a non-empty list of conditions")
            parts.append(Condition(kind=key, children=tuple(parse_condition(v, depth + 1) for v in value)))
        elif key == "not":
            parts.append(Condition(kind="not", children=(parse_condition(value, depth + 1),)))
        else:
            parts.append(Condition(kind="atom", variable=str(key), test=parse_test(value)))
    return parts[0] if len(parts) == 1 else Condition(kind="all", children=tuple(parts))


def _short(obj: Any, limit: int = 80) -> str:
    """A value for an error message, cut short: a message must never carry a whole (hostile) document."""
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "..."
