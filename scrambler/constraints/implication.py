"""Implication: if a condition holds, another must hold too."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame, register
from scrambler.constraints.predicates import compile_condition, test_lut
from scrambler.spec.model import DatasetSpec, ImplicationSpec


@register(ImplicationSpec)
class Implication(CompiledRule):
    kind = "implication"

    def __init__(self, spec: ImplicationSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.condition = compile_condition(spec.condition, dataset)
        self.consequence = compile_condition(spec.consequence, dataset)
        self.condition_vars = set(spec.condition.variables())
        # Fast path for the sampler: a consequence that is one test on one variable absent from the condition.
        self.target: str | None = None
        self.target_lut: np.ndarray | None = None
        self.target_test = None
        cons = spec.consequence
        if cons.kind == "atom" and cons.variable not in self.condition_vars:
            assert cons.variable is not None and cons.test is not None
            self.target = cons.variable
            self.target_test = cons.test
            self.target_lut = test_lut(dataset.variables[cons.variable], cons.test)

    def _is_valid(self, frame: Frame) -> np.ndarray:
        return ~self.condition(frame) | self.consequence(frame)

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        if name != self.target or self.target_lut is None:
            return None
        active = self.condition(frame)
        mask = np.ones((frame.n, n_codes + 1), dtype=bool)
        mask[active] = self.target_lut
        return mask

    def bounds(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        test = self.target_test
        if name != self.target or test is None or self.target_lut is not None:
            return None
        from scrambler.constraints.predicates import _number

        var = self.dataset.variables[name]
        active = self.condition(frame)
        low = np.full(frame.n, -np.inf)
        high = np.full(frame.n, np.inf)
        if test.op == "in" and len(test.values) == 1:  # {eq: v} on a number
            low[active] = high[active] = _number(var, test.values[0])
            return low, high
        if test.op != "range":
            return None
        if test.low is not None:
            low[active] = _number(var, test.low)
        if test.high is not None:
            high[active] = _number(var, test.high)
        return low, high

    def forced_null(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        test = self.target_test
        if name != self.target or test is None:
            return None
        active = self.condition(frame)
        none = np.zeros(frame.n, dtype=bool)
        if test.op == "null":
            return active, none
        if test.op in ("present", "range") or test.op == "in":
            return none, active
        return None
