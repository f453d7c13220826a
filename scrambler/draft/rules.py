"""Mined rules as data: what a miner found, ready to be written as a rules.yaml entry (and its CSV)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scrambler.draft.variables import DraftVariable


@dataclass
class Context:
    """What every miner needs: the variables, the person of each present row, and the thresholds."""

    variables: dict[str, DraftVariable]
    pid: np.ndarray  # person number (0..P-1) of each present row, rows sorted by person then period
    period: np.ndarray  # period number of each present row
    k: int  # a premise or allowed tuple stands for at least k persons
    evidence: float  # a rule is kept when at least this many violations were expected by chance
    grain: str

    @property
    def persons(self) -> int:
        return int(self.pid.max()) + 1 if len(self.pid) else 0

    def count_persons(self, keys: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
        """Distinct persons per key value (keys in 0..size-1) over the selected rows."""
        if not len(keys):
            return np.zeros(size, dtype=np.int64)
        pairs = np.unique(keys.astype(np.int64) * self.persons + self.pid[rows])
        return np.bincount(pairs // self.persons, minlength=size)


@dataclass
class DraftRule:
    id: str
    kind: str
    reason: str
    body: dict[str, Any]
    files: dict[str, list[list[str]]] = field(default_factory=dict)  # spec-relative path -> CSV rows
    variables: tuple[str, ...] = ()

    def as_yaml(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "reason": self.reason, "source": "TODO", **self.body}


def slug(*parts: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def value(var: DraftVariable, code: str) -> Any:
    """A code as YAML writes it: booleans as true/false, everything else as text."""
    return code == "true" if var.type == "boolean" else code


def test_for(var: DraftVariable, allowed: list[int], excluded: list[int], tuples_ok: bool) -> dict[str, Any]:
    """A condition on ``var`` that holds for the allowed code indices and fails for the excluded ones; index
    -1 stands for null (and, for a numeric variable, 0 for any value). ``in`` lists allowed codes only when
    every allowed combination stands for k persons; otherwise ``not_in`` names only what was never seen."""
    codes = var.codes or []
    name = var.name
    if not var.categorical:  # nullness of a number
        return {name: {"is": "present" if -1 in excluded else "null"}}
    ex_null = -1 in excluded
    ex_codes = [c for c in excluded if c >= 0]
    ok_codes = [c for c in allowed if c >= 0]
    if not ex_codes:
        return {name: {"is": "present"}}
    if not ok_codes:
        return {name: {"is": "null"}}
    if ex_null and tuples_ok and len(ok_codes) <= len(ex_codes):
        return {name: {"in": [value(var, codes[c]) for c in ok_codes]}}
    test = {name: {"not_in": [value(var, codes[c]) for c in ex_codes]}}
    return {"all": [test, {name: {"is": "present"}}]} if ex_null else test


def premise_for(var: DraftVariable, codes: list[int]) -> dict[str, Any]:
    if not var.categorical:
        return {var.name: {"is": "null" if codes == [-1] else "present"}}
    if codes == [-1]:
        return {var.name: {"is": "null"}}
    names = var.codes or []
    return {var.name: {"in": [value(var, names[c]) for c in codes]}}


def describe(var: DraftVariable, codes: list[int]) -> str:
    if codes == [-1]:
        return f"{var.name} null"
    if not var.categorical:
        return f"{var.name} filled"
    names = var.codes or []
    return f"{var.name} in {', '.join(names[c] for c in codes)}"


def unique_ids(rules: list[DraftRule]) -> list[DraftRule]:
    seen: dict[str, int] = {}
    for rule in rules:
        base = rule.id[:60]
        n = seen.get(base, 0) + 1
        seen[base] = n
        rule.id = base if n == 1 else f"{base}-{n}"
    return rules
