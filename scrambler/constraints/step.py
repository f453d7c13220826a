"""Step: an ordinal code moves between min and max positions per period elapsed (age class: 0..1 a year)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, need_variable, register_kind
from scrambler.spec.model import StepSpec


class Step(CompiledRule):
    temporal = True

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        spec = self.spec
        assert isinstance(spec, StepSpec)
        delta = current.astype(np.int64) - previous.astype(np.int64)
        ok = (delta >= spec.min_step * gap) & (delta <= spec.max_step * gap)
        return ok | (previous < 0) | (current < 0)


def parse(ctx: ParseContext, item: dict[str, Any]) -> StepSpec:
    variable = need_variable(item, "step")
    lo, hi = item.get("min", 0), item.get("max", 1)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
        raise ValueError(f"step needs integers min <= max, got min={lo!r} max={hi!r}")
    return StepSpec(**ctx.base, variable=variable, min_step=lo, max_step=hi)


def check(ctx: CheckContext, rule: StepSpec) -> None:
    var = ctx.spec.variables[rule.variable]
    if var.type != "ordinal":
        ctx.issue("type-mismatch", f"step needs an ordinal variable; {var.name} is {var.type}")


# no signature: a step reads code positions, so recode keeps every code apart
KIND = register_kind(RuleKind(spec=StepSpec, runtime=Step, keys=("variable", "min", "max"), parse=parse,
                              check=check, order=60, doc="""
  - id: age-class-step
    kind: step                         # ordinal: between consecutive observed periods, the code moves
    reason: ...                        # between min and max steps per period elapsed
    variable: age_class
    min: 0
    max: 1
"""))
