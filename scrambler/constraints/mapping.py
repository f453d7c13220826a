"""Mapping: the value of one variable determines the value of another (where the first is not null)."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame, register
from scrambler.spec.model import DatasetSpec, MappingSpec


@register(MappingSpec)
class Mapping(CompiledRule):
    kind = "mapping"

    def __init__(self, spec: MappingSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.source, self.target = spec.source_var, spec.target_var
        src_codes = dataset.variables[self.source].codes
        tgt_codes = dataset.variables[self.target].codes
        # table[source code] = target code index, -1 = target must be null, -2 = unconstrained (unmapped)
        table = np.full(len(src_codes) + 1, -2, dtype=np.int64)
        for a, b in spec.pairs:
            table[src_codes.index(a)] = -1 if b is None else tgt_codes.index(b)
        self.table = table
        self.n_target = len(tgt_codes)

    def _is_valid(self, frame: Frame) -> np.ndarray:
        wanted = self.table[frame[self.source]]
        got = frame[self.target].astype(np.int64)
        return (wanted == -2) | (wanted == got)

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        if name != self.target:
            return None
        wanted = self.table[frame[self.source]]
        mask = np.zeros((frame.n, n_codes + 1), dtype=bool)
        free = wanted == -2
        mask[free] = True
        rows = np.nonzero(~free)[0]
        cols = np.where(wanted[rows] == -1, n_codes, wanted[rows])
        mask[rows, cols] = True
        return mask
