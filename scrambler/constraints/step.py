"""Step: between consecutive observed periods the value moves between min and max per period elapsed.

On an ordinal the step counts code positions (age class: 0..1 a year); on an integer, decimal or year it is
the change of the number itself (experience: exactly 1 a year; a wage that never falls: min 0). The sampler
reads exact bounds from the neighbours (``neighbour_bounds``), so a numeric step is never guessed.
"""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, register
from scrambler.panel import is_null
from scrambler.spec.model import StepSpec

TOLERANCE = 1e-9  # decimals: a change of exactly max per period must pass despite binary rounding


@register(StepSpec)
class Step(CompiledRule):
    kind = "step"
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
