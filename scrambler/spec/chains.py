"""Contradictions that only show along chains of rules, found before any run.

Two checks, each naming every rule involved:

* **Chains of implications.** For each implication whose premise is a conjunction of categorical tests, assume
  the premise, then apply every implication whose premise is then certain, until nothing changes. If some
  variable is left with no possible value (its codes and null all excluded), the premise can never hold: the
  rules ``if A then B``, ``if B then C``, ``C excludes A`` together forbid A. The sampler would then have to
  drop A silently or publish rows that break a rule, so it is an error. Only certain consequences are used
  (a premise counts as met only when every value left satisfies it), so a reported chain is a real one.
* **Cycles of compare rules.** Each compare rule ``L op R`` is an edge between the non-constant parts of its
  sides, weighted by the constant difference; a cycle whose weights add up to less than zero (or to zero with a
  strict ``<``) can never hold, e.g. ``a < b`` with ``b < a``. Compare rules pass on nulls, so the sampler
  "satisfies" such a pair by nulling the variables and everything the implications tie to them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from scrambler.spec.conditions import Condition
from scrambler.spec.expressions import Expression
from scrambler.spec.model import CompareSpec, DatasetSpec, ImplicationSpec
from scrambler.spec.reader import Reader

Atoms = dict[str, np.ndarray]  # variable -> lookup table over its codes + null (last slot)
MONTHS = {"year": 12, "quarter": 3, "month": 1}


def check_chains(reader: Reader, spec: DatasetSpec, rfile: str) -> None:
    for rule_ids, variable, premise, owners in implication_chains(spec):
        chain = ", ".join(rule_ids)
        reader.issue("contradiction", f"{premise} can never hold (the premise of rule(s) {', '.join(owners)}): "
                     f"together, rules {chain} leave {variable} no possible value, not even null",
                     file=rfile, rule=chain, variable=variable)
    for rule_ids, text in compare_cycles(spec):
        reader.issue("contradiction", f"compare rules {', '.join(rule_ids)} form a cycle that can never hold "
                     f"({text}); where they meet, the variables could only be null", file=rfile,
                     rule=", ".join(rule_ids))


# ----------------------------------------------------------------------------------------- implication chains


def _atoms(spec: DatasetSpec, cond: Condition) -> Atoms | None:
    """A conjunction of tests on categorical variables as lookup tables; None for any other shape."""
    from scrambler.constraints.predicates import test_lut

    parts = [cond] if cond.kind == "atom" else list(cond.children) if cond.kind == "all" else []
    if not parts or any(p.kind != "atom" for p in parts):
        return None
    out: Atoms = {}
    for part in parts:
        var = spec.variables.get(part.variable or "")
        if var is None or part.test is None:
            return None
        try:
            lut = test_lut(var, part.test)
        except ValueError:  # an unknown code, reported elsewhere
            return None
        if lut is None:
            return None
        out[var.name] = out[var.name] & lut if var.name in out else lut
    return out


def implication_chains(spec: DatasetSpec) -> Iterator[tuple[list[str], str, str, list[str]]]:
    """Per premise that can never hold: (the rules that together exclude it, the variable they leave without a
    value, the premise, the rules that have this premise)."""
    from scrambler.constraints.domain import domain_codes

    rules = []
    for rule in spec.rules:
        if isinstance(rule, ImplicationSpec):
            premise = _atoms(spec, rule.condition)
            consequence = _consequence_atoms(spec, rule.consequence)
            if premise is not None and consequence:
                rules.append((rule, premise, consequence))
    initial: Atoms = {}
    for name, var in spec.variables.items():
        if var.is_categorical:
            allowed = domain_codes(var)
            initial[name] = np.array([c in allowed for c in var.codes] + [True])
    premises: dict[str, tuple[Atoms, list[str]]] = {}
    for rule, premise, _ in rules:
        premises.setdefault(rule.condition.describe(), (premise, []))[1].append(rule.id)
    for text, (premise, owners) in premises.items():
        domains = dict(initial)
        for name, lut in premise.items():
            domains[name] = domains[name] & lut
        if any(not d.any() for d in domains.values()):
            continue  # a premise the constraints already exclude: reported as such elsewhere
        why: dict[str, list[str]] = {}  # variable -> the rules that narrowed it, in order
        emptied = _propagate(rules, domains, why)
        if emptied is None or set(why[emptied]) <= set(owners):
            continue  # rules with one same premise that exclude each other: reported by the pairwise check
        yield why[emptied], emptied, text, owners


def _consequence_atoms(spec: DatasetSpec, cond: Condition) -> Atoms | None:
    """The categorical atoms of a conjunction (numeric ones are not propagated: sound, only less complete)."""
    parts = [cond] if cond.kind == "atom" else list(cond.children) if cond.kind == "all" else []
    out: Atoms = {}
    for part in parts:
        if part.kind == "atom":
            atoms = _atoms(spec, part)
            for name, lut in (atoms or {}).items():
                out[name] = out[name] & lut if name in out else lut
    return out


def _propagate(rules: list[tuple[ImplicationSpec, Atoms, Atoms]], domains: Atoms,
               why: dict[str, list[str]]) -> str | None:
    """Apply every rule whose premise is certain until nothing changes; the first emptied variable, if any."""
    changed = True
    while changed:
        changed = False
        for rule, premise, consequence in rules:
            if any((domains[name] & ~lut).any() for name, lut in premise.items()):
                continue  # some value left fails the premise: the rule need not apply
            cause = [r for name in premise for r in why.get(name, [])]
            for name, lut in consequence.items():
                narrowed = domains[name] & lut
                if (narrowed != domains[name]).any():
                    domains[name] = narrowed
                    why[name] = list(dict.fromkeys([*cause, *why.get(name, []), rule.id]))
                    changed = True
                    if not narrowed.any():
                        return name
    return None


# -------------------------------------------------------------------------------------------- compare cycles


def _side(expr: Expression) -> tuple[str, float]:
    """The non-constant part of a side as canonical text, and its constant (numbers with a unit in months)."""
    names, constant = [], 0.0
    for term in expr.terms:
        if term.kind == "number":
            constant += term.sign * term.number * MONTHS.get(term.unit or "", 1)
        else:
            text = term.name + (f".{term.attribute}" if term.attribute else "")
            names.append(("-" if term.sign < 0 else "+") + text)
    return " ".join(sorted(names)), constant


def compare_cycles(spec: DatasetSpec) -> Iterator[tuple[list[str], str]]:
    """Cycles of compare rules that can never hold (Floyd-Warshall over (bound, strictness) pairs)."""
    # an edge x -> y with weight (c, s) means x - y <= c (s = 0) or x - y < c (s = -1)
    edges: dict[tuple[str, str], tuple[tuple[float, int], str, str]] = {}

    def add(x: str, y: str, c: float, strict: bool, rule: str, text: str) -> None:
        weight = (c, -1 if strict else 0)
        if (x, y) not in edges or weight < edges[(x, y)][0]:
            edges[(x, y)] = (weight, rule, text)

    for rule in spec.rules:
        if not isinstance(rule, CompareSpec):
            continue
        (left, lc), (right, rc) = _side(rule.left), _side(rule.right)
        if not left or not right or left == right:
            continue
        text = f"{rule.left.text} {rule.op} {rule.right.text}"
        if rule.op in ("<", "<=", "=", "=="):
            add(left, right, rc - lc, rule.op == "<", rule.id, text)
        if rule.op in (">", ">=", "=", "=="):
            add(right, left, lc - rc, rule.op == ">", rule.id, text)
    nodes = sorted({n for pair in edges for n in pair})
    if not nodes:
        return
    index = {n: i for i, n in enumerate(nodes)}
    inf = (float("inf"), 0)
    n = len(nodes)
    dist = [[inf] * n for _ in range(n)]
    step: list[list[int | None]] = [[None] * n for _ in range(n)]
    for (x, y), (weight, _, _) in edges.items():
        dist[index[x]][index[y]] = weight
        step[index[x]][index[y]] = index[y]
    for k in range(n):
        for i in range(n):
            for j in range(n):
                through = (dist[i][k][0] + dist[k][j][0], dist[i][k][1] + dist[k][j][1])
                if through < dist[i][j]:
                    dist[i][j] = through
                    step[i][j] = step[i][k]
    reported: set[frozenset[str]] = set()
    for i in range(n):
        if dist[i][i] >= (0, 0):
            continue
        path, node = [i], step[i][i]
        while node is not None and node != i and len(path) <= n:
            path.append(node)
            node = step[node][i]
        if node != i:
            continue  # the walk did not close (a bound shared with another cycle); that cycle is reported itself
        path.append(i)
        hops = [edges[(nodes[a], nodes[b])] for a, b in zip(path, path[1:], strict=False)]
        rules = list(dict.fromkeys(rule for _, rule, _ in hops))
        if frozenset(rules) in reported:
            continue
        reported.add(frozenset(rules))
        yield rules, "; ".join(dict.fromkeys(text for _, _, text in hops))
