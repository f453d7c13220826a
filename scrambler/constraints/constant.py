"""Constant: a period variable keeps one value over all periods where it is observed and not null."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.registry import ParseContext, RuleKind, need_variable, register_kind
from scrambler.spec.model import ConstantSpec


def is_null(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) if values.dtype.kind == "f" else values < 0


class Constant(CompiledRule):
    temporal = True
    pins_to_neighbours = True

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        return is_null(previous) | is_null(current) | (previous == current)


def parse(ctx: ParseContext, item: dict[str, Any]) -> ConstantSpec:
    return ConstantSpec(**ctx.base, variable=need_variable(item, "constant"))


# no signature: keeping codes apart is what a constant rule needs anyway (a recoded code stays constant)
KIND = register_kind(RuleKind(spec=ConstantSpec, runtime=Constant, keys=("variable",), parse=parse, order=50, doc="""
  - id: sex-constant
    kind: constant                     # a period variable keeps its value over the periods where present
    reason: ...
    variable: sex
"""))
