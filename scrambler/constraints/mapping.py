"""Mapping: the value of one variable determines the value of another (where the first is not null)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, register_kind
from scrambler.spec.model import DatasetSpec, MappingSpec


class Mapping(CompiledRule):
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


def parse(ctx: ParseContext, item: dict[str, Any]) -> MappingSpec | None:
    source, target = item.get("from"), item.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        raise ValueError("a mapping needs 'from' and 'to' variable names")
    from_col = str(item.get("from_column", "code"))
    to_col = str(item.get("to_column", target))
    if "table" in item:
        found = ctx.csv(item["table"])
        if found is None:
            return None
        file, header, body = found
        rows = [(r.get(from_col, "").strip(), r.get(to_col, "").strip()) for _, r in body]
        if from_col not in header or to_col not in header:
            raise ValueError(f"{file} needs the columns {from_col!r} and {to_col!r}")
    else:
        var = ctx.variables.get(source)
        if var is None or var.codelist is None:
            raise ValueError("mapping without 'table' needs 'from' to be a categorical variable with a code list")
        codelist = var.codelist
        file = codelist.file or ""
        if to_col not in codelist.texts:
            raise ValueError(f"code list {codelist.name!r} has no column {to_col!r}")
        rows = list(zip(codelist.codes, codelist.texts[to_col], strict=True))
    pairs: list[tuple[str, str | None]] = []
    seen: dict[str, str | None] = {}
    for a, b in rows:
        if not a:
            continue
        value = b or None
        if a in seen and seen[a] != value:
            raise ValueError(f"{source} code {a!r} maps to two values ({seen[a]!r} and {value!r})")
        seen[a] = value
        pairs.append((a, value))
    return MappingSpec(**ctx.base, source_var=source, target_var=target, pairs=tuple(pairs), file=file)


def check(ctx: CheckContext, rule: MappingSpec) -> None:
    for a, b in rule.pairs:
        ctx.value(ctx.spec.variables[rule.source_var], a)
        if b is not None:
            ctx.value(ctx.spec.variables[rule.target_var], b)


def signature(rule: MappingSpec, name: str, codes: tuple[str, ...]) -> list[object]:
    """Per code: its target (source variable) or the codes mapped to it (target variable)."""
    if name == rule.source_var:
        pairs = dict(rule.pairs)
        return [(rule.id, pairs.get(c, "<unmapped>")) for c in codes]
    return [(rule.id, tuple(sorted(a for a, b in rule.pairs if b == c))) for c in codes]


KIND = register_kind(RuleKind(
    spec=MappingSpec, runtime=Mapping, keys=("from", "to", "table", "from_column", "to_column"), parse=parse,
    check=check, signature=signature, order=30, doc="""
  - id: region-of-province
    kind: mapping                      # A determines B through a table
    reason: Region is the province's region.
    from: province
    to: region
    table: codelists/province.csv      # optional; default: the `from` variable's code list
    from_column: code                  # default: code
    to_column: region                  # default: the `to` variable's name
"""))
