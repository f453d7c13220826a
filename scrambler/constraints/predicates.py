"""Compile condition trees into vectorised predicates over a Frame.

Categorical tests become lookup tables of length K+1 (last slot = null), so a test over millions of rows is
one fancy-indexing operation: ``lut[codes]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scrambler.constraints.base import Frame
from scrambler.spec.conditions import Condition, Test
from scrambler.spec.model import TIME_GRAIN, DatasetSpec, Variable
from scrambler.spec.time import parse_period

Predicate = Callable[[Frame], np.ndarray]


def number(var: Variable, value: object) -> float:
    if var.type in TIME_GRAIN and isinstance(value, str):
        return float(parse_period(value, TIME_GRAIN[var.type]))
    return float(value)  # type: ignore[arg-type]


def test_lut(var: Variable, test: Test) -> np.ndarray | None:
    """For categorical variables: the (K+1,) lookup table of the test (None for numeric variables)."""
    if not var.is_categorical:
        return None
    codes = var.codes
    lut = np.zeros(len(codes) + 1, dtype=bool)
    if test.op in ("in", "not_in"):
        for v in test.values:
            lut[codes.index(str(v))] = True
        if test.op == "not_in":
            lut = ~lut  # null (last slot) is "not in" any list
    elif test.op == "null":
        lut[-1] = True
    elif test.op == "present":
        lut[:-1] = True
    else:  # range over an ordinal
        lo = codes.index(str(test.low)) if test.low is not None else 0
        hi = codes.index(str(test.high)) if test.high is not None else len(codes) - 1
        lut[lo:hi + 1] = True
    return lut


def test_values(var: Variable, test: Test, values: np.ndarray) -> np.ndarray:
    """Evaluate a test on an array of the variable's encoded values."""
    lut = test_lut(var, test)
    if lut is not None:
        return lut[values]
    if test.op == "null":
        return np.isnan(values)
    if test.op == "present":
        return ~np.isnan(values)
    if test.op in ("in", "not_in"):
        hit = np.isin(values, [number(var, v) for v in test.values])
        return hit if test.op == "in" else ~hit
    ok = ~np.isnan(values)
    if test.low is not None:
        ok &= values >= number(var, test.low)
    if test.high is not None:
        ok &= values <= number(var, test.high)
    return ok


def compile_condition(cond: Condition, spec: DatasetSpec) -> Predicate:
    if cond.kind == "atom":
        assert cond.variable is not None and cond.test is not None
        var, test = spec.variables[cond.variable], cond.test
        lut = test_lut(var, test)
        name = cond.variable
        if lut is not None:
            return lambda f: lut[f[name]]
        return lambda f: test_values(var, test, f[name])
    parts = [compile_condition(c, spec) for c in cond.children]
    if cond.kind == "not":
        inner = parts[0]
        return lambda f: ~inner(f)
    if cond.kind == "all":
        def all_of(f: Frame) -> np.ndarray:
            out = parts[0](f)
            for p in parts[1:]:
                out = out & p(f)
            return out
        return all_of

    def any_of(f: Frame) -> np.ndarray:
        out = parts[0](f)
        for p in parts[1:]:
            out = out | p(f)
        return out
    return any_of
