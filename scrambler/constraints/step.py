"""Step: between consecutive observed periods the value moves between min and max per period elapsed.

On an ordinal the step counts code positions (age class: 0..1 a year); on an integer, decimal or year it is
the change of the number itself (experience: exactly 1 a year; a wage that never falls: min 0). The sampler
reads exact bounds from the neighbours (``neighbour_bounds``), so a numeric step is never guessed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, need_variable, register_kind
from scrambler.panel import is_null
from scrambler.spec.model import StepSpec

STEP_TYPES = ("ordinal", "integer", "decimal", "year")
TOLERANCE = 1e-9  # decimals: a change of exactly max per period must pass despite binary rounding


class Step(CompiledRule):
    temporal = True

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        spec = self.spec
        assert isinstance(spec, StepSpec)
        null = is_null(previous) | is_null(current)
        if previous.dtype.kind == "f" or current.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                delta = current.astype(float) - previous.astype(float)
                ok = (delta >= spec.min_step * gap - TOLERANCE) & (delta <= spec.max_step * gap + TOLERANCE)
            return ok | null
        delta = current.astype(np.int64) - previous.astype(np.int64)
        ok = (delta >= spec.min_step * gap) & (delta <= spec.max_step * gap)
        return ok | null

    def neighbour_bounds(self, previous: np.ndarray, previous_gap: np.ndarray, following: np.ndarray,
                         following_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numeric values: the [low, high] a value must keep between the previous and the next observed
        value (NaN where unknown: no bound from that side)."""
        spec = self.spec
        assert isinstance(spec, StepSpec)
        low = np.full(len(previous), -np.inf)
        high = np.full(len(previous), np.inf)
        known = ~np.isnan(previous)
        low[known] = previous[known] + spec.min_step * previous_gap[known]
        high[known] = previous[known] + spec.max_step * previous_gap[known]
        known = ~np.isnan(following)
        low[known] = np.maximum(low[known], following[known] - spec.max_step * following_gap[known])
        high[known] = np.minimum(high[known], following[known] - spec.min_step * following_gap[known])
        return low, high


def parse(ctx: ParseContext, item: dict[str, Any]) -> StepSpec:
    variable = need_variable(item, "step")
    lo, hi = item.get("min", 0), item.get("max", 1)
    # numbers: whole steps for ordinals and integers (checked against the variable's type in check)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
        raise ValueError(f"step needs numbers min <= max, got min={lo!r} max={hi!r}")
    return StepSpec(**ctx.base, variable=variable, min_step=lo, max_step=hi)


def check(ctx: CheckContext, rule: StepSpec) -> None:
    var = ctx.spec.variables[rule.variable]
    if var.type not in STEP_TYPES:
        ctx.issue("type-mismatch", f"step needs an ordinal, integer, decimal or year variable; {var.name} is "
                  f"{var.type}")
    elif var.type != "decimal" and not all(float(v).is_integer() for v in (rule.min_step, rule.max_step)):
        ctx.issue("type-mismatch", f"step on {var.type} {var.name} needs whole min and max, got {rule.min_step} "
                  f"and {rule.max_step}")


# no signature: a step reads code positions, so recode keeps every code apart
KIND = register_kind(RuleKind(spec=StepSpec, runtime=Step, keys=("variable", "min", "max"), parse=parse,
                              check=check, order=60, doc="""
  - id: age-class-step
    kind: step                         # ordinal: between consecutive observed periods, the code moves
    reason: ...                        # between min and max steps per period elapsed
    variable: age_class
    min: 0
    max: 1

  - id: experience-grows
    kind: step                         # integer, decimal, year: the number itself changes by min..max
    reason: ...                        # per period elapsed (whole min/max except on decimals)
    variable: experience
    min: 1
    max: 1
"""))
