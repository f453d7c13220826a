"""Step: an ordinal code moves between min and max positions per period elapsed (age class: 0..1 a year)."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, register
from scrambler.spec.model import StepSpec


@register(StepSpec)
class Step(CompiledRule):
    kind = "step"
    temporal = True

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        spec = self.spec
        assert isinstance(spec, StepSpec)
        delta = current.astype(np.int64) - previous.astype(np.int64)
        ok = (delta >= spec.min_step * gap) & (delta <= spec.max_step * gap)
        return ok | (previous < 0) | (current < 0)
