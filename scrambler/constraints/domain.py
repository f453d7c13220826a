"""One domain per variable: all single-variable constraints merged (the tightest bound wins).

Categorical variables get a boolean mask over their codes plus a null slot at the end (index -1), so that
``mask[codes]`` works with -1 for null. Numeric variables get [low, high] and forbidden values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from scrambler.spec.model import TIME_GRAIN, Variable
from scrambler.spec.time import parse_period

# Time values without declared bounds stay within 1900-2100: a draw must remain a real date.
TIME_DEFAULT_BOUNDS = {"year": (1900.0, 2100.0), "year_month": (1900.0 * 12, 2100.0 * 12 + 11),
                       "year_quarter": (1900.0 * 4, 2100.0 * 4 + 3)}


@dataclass(frozen=True)
class Domain:
    variable: str
    nullable: bool  # null allowed when the person is present
    codes_mask: np.ndarray | None  # categorical: (K+1,) bool, last slot = null
    low: float = -np.inf
    high: float = np.inf
    forbidden: tuple[float, ...] = ()
    pattern: str | None = None

    def valid_codes(self, codes: np.ndarray) -> np.ndarray:
        assert self.codes_mask is not None
        return self.codes_mask[codes]

    def valid_numbers(self, values: np.ndarray) -> np.ndarray:
        ok = np.isnan(values) | ((values >= self.low) & (values <= self.high))
        if self.forbidden:
            ok &= ~np.isin(values, self.forbidden)
        return ok


def domain_codes(var: Variable) -> set[str]:
    """Codes a categorical variable may take after enum, forbidden, pattern and ordinal bounds."""
    codes = list(var.codes)
    c = var.constraints
    allowed = set(codes)
    if c.enum is not None:
        allowed &= set(c.enum)
    allowed -= set(c.forbidden)
    if c.pattern:
        rx = re.compile(c.pattern)
        allowed = {code for code in allowed if rx.fullmatch(code)}
    if var.type == "ordinal":
        lo = codes.index(str(c.minimum)) if c.minimum in codes else 0
        hi = codes.index(str(c.maximum)) if c.maximum in codes else len(codes) - 1
        allowed = {code for code in allowed if lo <= codes.index(code) <= hi}
    return allowed


def _number(var: Variable, value: str) -> float | None:
    try:
        if var.type in ("year_month", "year_quarter"):
            return float(parse_period(value, TIME_GRAIN[var.type]))
        return float(value)
    except ValueError:
        return None


def empty_domain_reason(var: Variable) -> str | None:
    """Why the merged domain of ``var`` is empty (None when it is not)."""
    c = var.constraints
    if var.is_categorical and var.codes:
        if not domain_codes(var):
            parts = [f"enum {list(c.enum)}" if c.enum is not None else "",
                     f"forbidden {list(c.forbidden)}" if c.forbidden else "",
                     f"pattern {c.pattern!r}" if c.pattern else "",
                     f"minimum {c.minimum!r} > maximum {c.maximum!r}" if c.minimum is not None else ""]
            return "no code is left after merging " + ", ".join(p for p in parts if p)
    if var.is_numeric and c.minimum is not None and c.maximum is not None:
        if float(c.minimum) > float(c.maximum):  # type: ignore[arg-type]
            return f"minimum {c.minimum} > maximum {c.maximum}: no value is left"
    return None


def build_domain(var: Variable) -> Domain:
    c = var.constraints
    if var.is_categorical:
        allowed = domain_codes(var)
        mask = np.zeros(len(var.codes) + 1, dtype=bool)
        for i, code in enumerate(var.codes):
            mask[i] = code in allowed
        mask[-1] = not c.required
        return Domain(variable=var.name, nullable=not c.required, codes_mask=mask)
    forbidden = tuple(x for x in (_number(var, v) for v in c.forbidden) if x is not None)
    default_low, default_high = TIME_DEFAULT_BOUNDS.get(var.type, (-np.inf, np.inf))
    low = float(c.minimum) if c.minimum is not None else default_low  # type: ignore[arg-type]
    high = float(c.maximum) if c.maximum is not None else default_high  # type: ignore[arg-type]
    return Domain(variable=var.name, nullable=not c.required, codes_mask=None, low=low, high=high,
                  forbidden=forbidden, pattern=c.pattern)
