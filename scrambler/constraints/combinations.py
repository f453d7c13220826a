"""Combinations: the tuple of the named variables must be one of the allowed rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, register_kind
from scrambler.spec.model import CombinationsSpec, DatasetSpec
from scrambler.spec.reader import code_text


class Combinations(CompiledRule):
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


def parse(ctx: ParseContext, item: dict[str, Any]) -> CombinationsSpec | None:
    columns = item.get("variables")
    if not isinstance(columns, list) or len(columns) < 2 or not all(isinstance(c, str) for c in columns):
        raise ValueError("combinations needs 'variables': a list of at least two variable names")
    if ("allowed" in item) == ("rows" in item):
        raise ValueError("combinations needs exactly one of 'allowed' (a CSV file) or 'rows' (inline)")
    rows: list[tuple[str | None, ...]] = []
    file = None
    if "rows" in item:
        raw = item["rows"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("'rows' must be a non-empty list of lists")
        for r in raw:
            if not isinstance(r, list) or len(r) != len(columns):
                raise ValueError(f"each row must list {len(columns)} values, got {r!r}")
            rows.append(tuple(None if v is None else code_text(v) for v in r))
    else:
        found = ctx.csv(item["allowed"])
        if found is None:
            return None
        file, header, body = found
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{file} lacks the column(s) {', '.join(missing)}")
        for _, row in body:
            rows.append(tuple((row[c].strip() or None) for c in columns))
        if not rows:
            raise ValueError(f"{file} lists no allowed combination")
    return CombinationsSpec(**ctx.base, columns=tuple(columns), rows=tuple(rows), file=file)


def check(ctx: CheckContext, rule: CombinationsSpec) -> None:
    suffix = f" (in {rule.file})" if rule.file else ""
    for row in rule.rows:
        for name, value in zip(rule.columns, row, strict=True):
            if value is not None:
                ctx.value(ctx.spec.variables[name], value, suffix=suffix)


def signature(rule: CombinationsSpec, name: str, codes: tuple[str, ...]) -> list[object]:
    """Per code: the rows it appears in, with the other columns' values (codes in the same rows are alike)."""
    col = rule.columns.index(name)
    return [(rule.id, tuple(sorted(tuple(str(x) for j, x in enumerate(row) if j != col) for row in rule.rows
                                   if row[col] == c))) for c in codes]


KIND = register_kind(RuleKind(
    spec=CombinationsSpec, runtime=Combinations, keys=("variables", "allowed", "rows"), parse=parse, check=check,
    signature=signature, order=20, doc="""
  - id: province-service
    kind: combinations                 # allowed tuples; any other tuple is a violation
    reason: The competent service follows from the residence.
    variables: [province, employment_service]
    allowed: codelists/province_service.csv   # CSV with one column per variable; empty cell = null
    # or inline: rows: [["10000", "north"], ["21000", "capital"], ...]
"""))
