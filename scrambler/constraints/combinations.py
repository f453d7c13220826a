"""Combinations: the tuple of the named variables must be one of the allowed rows."""

from __future__ import annotations

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame, register
from scrambler.spec.model import CombinationsSpec, DatasetSpec


@register(CombinationsSpec)
class Combinations(CompiledRule):
    kind = "combinations"

    def __init__(self, spec: CombinationsSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.columns = spec.columns
        self.sizes = [len(dataset.variables[c].codes) + 1 for c in spec.columns]  # +1: null slot
        # Encode each allowed tuple as one integer in mixed radix (null -> last slot).
        self.allowed_keys = np.unique(np.array([self._key_of(row) for row in spec.rows], dtype=np.int64))
        self.pair_matrix: np.ndarray | None = None
        if len(self.columns) == 2:
            m = np.zeros((self.sizes[0], self.sizes[1]), dtype=bool)
            for key in self.allowed_keys:
                m[key // self.sizes[1], key % self.sizes[1]] = True
            self.pair_matrix = m

    def _key_of(self, row: tuple[str | None, ...]) -> int:
        key = 0
        for name, size, value in zip(self.columns, self.sizes, row, strict=True):
            codes = self.dataset.variables[name].codes
            idx = size - 1 if value is None else codes.index(value)
            key = key * size + idx
        return key

    def _keys(self, frame: Frame) -> np.ndarray:
        key = np.zeros(frame.n, dtype=np.int64)
        for name, size in zip(self.columns, self.sizes, strict=True):
            codes = frame[name].astype(np.int64)
            key = key * size + np.where(codes < 0, size - 1, codes)
        return key

    def _is_valid(self, frame: Frame) -> np.ndarray:
        return np.isin(self._keys(frame), self.allowed_keys)

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        if self.pair_matrix is None:
            return None
        if name == self.columns[1]:
            other = frame[self.columns[0]]
            return self.pair_matrix[other]  # -1 indexes the null row
        other = frame[self.columns[1]]
        return self.pair_matrix.T[other]
