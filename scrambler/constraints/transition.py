"""Transition: if the previous observed value passes one test, the next one must pass another."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.constant import is_null
from scrambler.constraints.predicates import test_values
from scrambler.constraints.registry import ParseContext, RuleKind, need_variable, register_kind
from scrambler.spec.conditions import parse_test
from scrambler.spec.model import DatasetSpec, TransitionSpec


class Transition(CompiledRule):
    temporal = True

    def __init__(self, spec: TransitionSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.var = dataset.variables[spec.variable]

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        spec = self.spec
        assert isinstance(spec, TransitionSpec)
        trigger = test_values(self.var, spec.if_previous, previous) & ~is_null(previous)
        return ~trigger | test_values(self.var, spec.then, current) | is_null(current)


def parse(ctx: ParseContext, item: dict[str, Any]) -> TransitionSpec:
    variable = need_variable(item, "transition")
    if "if_previous" not in item or "then" not in item:
        raise ValueError("a transition needs 'if_previous' and 'then'")
    return TransitionSpec(**ctx.base, variable=variable, if_previous=parse_test(item["if_previous"]),
                          then=parse_test(item["then"]))


def check(ctx: CheckContext, rule: TransitionSpec) -> None:
    var = ctx.spec.variables[rule.variable]
    for test in (rule.if_previous, rule.then):
        ctx.test(var, test)


# no signature: recode keeps every code apart (the tests may be ranges over an order)
KIND = register_kind(RuleKind(spec=TransitionSpec, runtime=Transition, keys=("variable", "if_previous", "then"),
                              parse=parse, check=check, order=80, doc="""
  - id: nationality-only-to-belgian
    kind: transition                   # if the previous observed value passes `if_previous`,
    reason: ...                        # the next one must pass `then`
    variable: nationality
    if_previous: {in: [BE]}
    then: {in: [BE]}
"""))
