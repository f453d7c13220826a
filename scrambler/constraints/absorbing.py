"""Absorbing: once a variable takes one of the listed values, it keeps to them (deceased stays deceased)."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, register
from scrambler.spec.model import AbsorbingSpec, DatasetSpec


@register(AbsorbingSpec)
class Absorbing(CompiledRule):
    kind = "absorbing"
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
