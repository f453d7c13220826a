"""Which relations between variables the scrambled data keep (a rule links them) and which scrambling
breaks on purpose (no rule links them, so values are drawn apart)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from scrambler.spec.model import DatasetSpec


def rule_pairs(spec: DatasetSpec) -> dict[frozenset[str], list[str]]:
    """Pair of variables -> ids of the rules that link them."""
    out: dict[frozenset[str], list[str]] = {}
    for rule in spec.rules:
        for a, b in combinations(sorted(set(rule.variables)), 2):
            out.setdefault(frozenset((a, b)), []).append(rule.id)
    return out


def swap_pairs(spec: DatasetSpec) -> set[frozenset[str]]:
    """Pairs taken together from one donor by a declared swap block (kept in practice, not guaranteed)."""
    out: set[frozenset[str]] = set()
    for method in spec.scramble.methods:
        if method.method == "swap":
            out |= {frozenset(p) for p in combinations(sorted(method.variables), 2)}
    return out


def relations(spec: DatasetSpec) -> dict[str, Any]:
    """Rules (id, kind, variables, reason) and per variable the variables it is kept with or broken from."""
    names = [v.name for v in spec.published_variables]
    linked = rule_pairs(spec)
    swapped = swap_pairs(spec)
    rules = [{"id": r.id, "kind": r.kind, "variables": list(r.variables), "reason": r.reason,
              "over_time": r.temporal} for r in spec.rules]
    per_variable = []
    broken = 0
    for name in names:
        kept = [o for o in names if o != name and frozenset((name, o)) in linked]
        together = [o for o in names if o != name and frozenset((name, o)) in swapped and o not in kept]
        apart = [o for o in names if o != name and o not in kept and o not in together]
        broken += len(apart)
        per_variable.append({"variable": name, "kept_with": kept, "swapped_with": together, "broken_with": apart,
                             "rules": [r.id for r in spec.rules if name in r.variables]})
    return {"rules": rules, "variables": per_variable, "pairs_kept": len(linked), "pairs_broken": broken // 2}
