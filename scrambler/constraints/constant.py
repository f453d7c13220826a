"""Constant: a period variable keeps one value over all periods where it is observed and not null."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, register
from scrambler.spec.model import ConstantSpec


def is_null(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) if values.dtype.kind == "f" else values < 0


@register(ConstantSpec)
class Constant(CompiledRule):
    kind = "constant"
    temporal = True

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        return is_null(previous) | is_null(current) | (previous == current)
