"""Classify: a number lies inside the bounds its class gives it (a wage in its wage class).

The class variable's code list holds the bounds in two attribute columns (``lower`` inclusive, ``upper``
inclusive unless ``upper_inclusive: false``; an empty cell is no bound). Deliberations publish amounts "in
classes": one rule ties the class to the amount both ways. The sampler reads exact bounds for the number
given its class, and a candidate mask of the classes that hold a known number; the rule holds when either
side is null.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, register_kind
from scrambler.spec.model import ClassifySpec, DatasetSpec


class Classify(CompiledRule):

    def __init__(self, spec: ClassifySpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.number, self.klass = spec.number, spec.class_var
        codelist = dataset.variables[spec.class_var].codelist
        assert codelist is not None  # validate refuses a class variable without a code list
        nan = np.array([np.nan])
        # one slot per code, then null (code -1 indexes the last slot)
        low = np.asarray(codelist.attributes.get(spec.lower, ()), dtype=float)
        high = np.asarray(codelist.attributes.get(spec.upper, ()), dtype=float)
        self.low = np.concatenate([np.where(np.isnan(low), -np.inf, low), nan])
        self.high = np.concatenate([np.where(np.isnan(high), np.inf, high), nan])
        self.strict = not spec.upper_inclusive

    def _holds(self, value: np.ndarray, code: np.ndarray) -> np.ndarray:
        low, high = self.low[code], self.high[code]
        with np.errstate(invalid="ignore"):
            above = value >= low
            below = value < high if self.strict else value <= high
        return (above & below) | np.isnan(value) | np.isnan(low)

    def _is_valid(self, frame: Frame) -> np.ndarray:
        return self._holds(frame[self.number].astype(float), frame[self.klass].astype(np.int64))

    def bounds(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        if name != self.number:
            return None
        code = frame[self.klass].astype(np.int64)
        low = np.nan_to_num(self.low[code], nan=-np.inf)
        high = np.nan_to_num(self.high[code], nan=np.inf)
        if self.strict:
            var = self.dataset.variables[self.number]
            high = high - (1.0 if var.integral else 10.0 ** -var.decimals)
        return low, high

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        if name != self.klass:
            return None
        value = frame[self.number].astype(float)[:, None]
        codes = np.arange(n_codes + 1)
        codes[-1] = -1  # the last column is null, which the rule leaves to the domain
        shape = (len(value), n_codes + 1)
        return self._holds(np.broadcast_to(value, shape), np.broadcast_to(codes, shape))


def parse(ctx: ParseContext, item: dict[str, Any]) -> ClassifySpec:
    names = {key: item.get(key) for key in ("variable", "class", "lower", "upper")}
    missing = [key for key, value in names.items() if not isinstance(value, str) or not value]
    if missing:
        raise ValueError(f"a classify rule needs {', '.join(missing)} (names)")
    inclusive = item.get("upper_inclusive", True)
    if not isinstance(inclusive, bool):
        raise ValueError(f"upper_inclusive must be true or false, got {inclusive!r}")
    return ClassifySpec(**ctx.base, number=str(names["variable"]), class_var=str(names["class"]),
                        lower=str(names["lower"]), upper=str(names["upper"]), upper_inclusive=inclusive)


def check(ctx: CheckContext, rule: ClassifySpec) -> None:
    number, klass = ctx.spec.variables.get(rule.number), ctx.spec.variables.get(rule.class_var)
    if number is not None and number.type not in ("integer", "decimal"):
        ctx.issue("type-mismatch", f"classify needs an integer or decimal variable; {number.name} is {number.type}")
    if klass is None:
        return
    if klass.codelist is None:
        ctx.issue("type-mismatch", f"classify needs a class variable with a code list; {klass.name} has none")
        return
    for column in (rule.lower, rule.upper):
        if column not in klass.codelist.attributes:
            ctx.issue("unknown-attribute", f"code list of {klass.name} has no numeric column {column!r}")


# no signature: the classes' bounds are attributes, so recode keeps every class code apart
KIND = register_kind(RuleKind(
    spec=ClassifySpec, runtime=Classify, keys=("variable", "class", "lower", "upper", "upper_inclusive"),
    parse=parse, check=check, order=75, doc="""
  - id: wage-in-its-class
    kind: classify                     # a number lies in its class: the class variable's code list gives
    reason: ...                        # each class its bounds in two numeric columns (empty = no bound)
    variable: daily_wage
    class: daily_wage_class
    lower: wage_min                    # inclusive
    upper: wage_max                    # inclusive, unless upper_inclusive: false
    upper_inclusive: false
"""))
