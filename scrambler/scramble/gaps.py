"""A coverage gap: a category (or declared tuple) that the output holds fewer than k times in a table block.

A gap is called impossible only when that is shown: the code lies outside what the variable's own
constraints allow, so no valid trajectory holds it; or the table block has too few rows for every category
k times and the category holds its share (counted in :mod:`capacity`). Otherwise a category the (valid) input
holds is never impossible, since the input person is a valid trajectory holding it: such a gap is "not
reached" after the coverage rounds, and names the rules that tie the variable (the ones in the way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from scrambler.panel import Panel
from scrambler.spec.model import DatasetSpec


@dataclass
class Gap:
    table: str
    block: str
    variable: str
    code: str
    wanted: int
    got: int
    impossible: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "block": self.block or "(T)", "variable": self.variable, "code": self.code,
                "wanted": self.wanted, "got": self.got,
                "status": "impossible" if self.impossible else "not reached", "reason": self.reason}

    def describe(self) -> str:
        head = "not coverable" if self.impossible else "not reached"
        return (f"{head}: {self.table}{self.block} {self.variable}={self.code} ({self.got} < {self.wanted}): "
                f"{self.reason}")


def explain_gaps(spec: DatasetSpec, gaps: Iterable[Gap], input_codes: dict[str, set[str]], rounds: int) -> list[Gap]:
    """Each gap with its status and reason. ``input_codes``: per variable (or "a×b" tuple) the codes the input
    holds; ``rounds``: the coverage rounds run."""
    from scrambler.constraints.domain import build_domain
    from scrambler.constraints.registry import compile_rules

    rules = compile_rules(spec)
    out = []
    for gap in gaps:
        if gap.impossible and gap.reason:  # shown already (by counting the block's rows: capacity)
            out.append(gap)
            continue
        names = gap.variable.split("×")
        in_the_way = sorted({r.id for r in rules if set(names) & set(r.variables)})
        rules_text = ", ".join(in_the_way) or "none beyond the variable's own constraints"
        if len(names) == 1 and names[0] in spec.variables:
            var = spec.variables[names[0]]
            mask = build_domain(var).codes_mask
            if mask is not None and gap.code in var.codes and not mask[var.codes.index(gap.code)]:
                out.append(replace(gap, impossible=True, reason="the variable's own constraints (enum, "
                                   "forbidden) exclude the code: no valid trajectory holds it"))
                continue
        held = len(names) > 1 or gap.code in input_codes.get(gap.variable, set())  # tuples: the input's only
        witness = "the input holds it, so a valid trajectory exists; " if held else ""
        out.append(replace(gap, reason=f"not reached after {rounds} coverage round(s); {witness}"
                           f"rules in the way: {rules_text}"))
    return out


def input_codes(source: Panel) -> dict[str, set[str]]:
    """Per categorical (and boolean) variable, the codes the input holds anywhere: the witness that a gap is
    reachable (a rare flag held by one input person is as reachable as any category)."""
    out = {}
    for var in source.spec.data_variables:
        if var.is_categorical:
            values = source.static[var.name] if var.name in source.static else source.periodic[var.name]
            out[var.name] = {var.codes[c] for c in np.unique(values) if c >= 0}
    return out


def format_gaps(gaps: list[Gap], shown: int = 10) -> list[str]:
    """Lines for stdout: the first ``shown`` gaps, those not reached first (the ones a spec author can act on),
    then how many more of each status the manifest lists."""
    ordered = sorted(gaps, key=lambda g: g.impossible)  # stable: the manifest's order within each status
    lines = [f"  {gap.describe()}" for gap in ordered[:shown]]
    rest = ordered[shown:]
    if rest:
        impossible = sum(g.impossible for g in rest)
        lines.append(f"  ... and {len(rest)} more gap(s) ({len(rest) - impossible} not reached, {impossible} not "
                     "coverable), all listed in manifest.json (coverage_gaps)")
    return lines
