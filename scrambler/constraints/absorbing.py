"""Absorbing: once a variable takes one of the listed values, it keeps to them (deceased stays deceased)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, need_variable, register_kind
from scrambler.spec.model import AbsorbingSpec, DatasetSpec
from scrambler.spec.reader import code_text


class Absorbing(CompiledRule):
    temporal = True

    def __init__(self, spec: AbsorbingSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        codes = dataset.variables[spec.variable].codes
        lut = np.zeros(len(codes) + 1, dtype=bool)
        for v in spec.values:
            lut[codes.index(v)] = True
        self.lut = lut

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        return ~self.lut[previous] | self.lut[current] | (current < 0)


def parse(ctx: ParseContext, item: dict[str, Any]) -> AbsorbingSpec:
    variable = need_variable(item, "absorbing")
    values = item.get("values")
    if not isinstance(values, list) or not values:
        raise ValueError("absorbing needs a non-empty 'values' list")
    return AbsorbingSpec(**ctx.base, variable=variable, values=tuple(code_text(v) for v in values))


def check(ctx: CheckContext, rule: AbsorbingSpec) -> None:
    var = ctx.spec.variables[rule.variable]
    for v in rule.values:
        ctx.value(var, v)


# no signature: recode keeps every code apart (an absorbing code swapped with a free one would stay absorbing
# only by luck of the permutation)
KIND = register_kind(RuleKind(spec=AbsorbingSpec, runtime=Absorbing, keys=("variable", "values"), parse=parse,
                              check=check, order=70, doc="""
  - id: deceased-absorbing
    kind: absorbing                    # once in `values`, always in `values` afterwards
    reason: ...
    variable: deceased
    values: [true]
"""))
