"""Transition: if the previous observed value passes one test, the next one must pass another."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, register
from scrambler.constraints.constant import is_null
from scrambler.constraints.predicates import test_values
from scrambler.spec.model import DatasetSpec, TransitionSpec


@register(TransitionSpec)
class Transition(CompiledRule):
    kind = "transition"
    temporal = True

    def __init__(self, spec: TransitionSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.var = dataset.variables[spec.variable]

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        spec = self.spec
        assert isinstance(spec, TransitionSpec)
        trigger = test_values(self.var, spec.if_previous, previous) & ~is_null(previous)
        return ~trigger | test_values(self.var, spec.then, current) | is_null(current)
