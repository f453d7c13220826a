"""Implication: if a condition holds, another must hold too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.domain import domain_codes
from scrambler.constraints.predicates import compile_condition, number, test_lut
from scrambler.constraints.registry import ParseContext, RuleKind, register_kind
from scrambler.spec.conditions import Condition, Test, parse_condition
from scrambler.spec.model import DatasetSpec, ImplicationSpec, Variable


class Implication(CompiledRule):
    def __init__(self, spec: ImplicationSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.condition = compile_condition(spec.condition, dataset)
        self.consequence = compile_condition(spec.consequence, dataset)
        self.condition_vars = set(spec.condition.variables())
        # Fast path for the sampler: a consequence that is one test on one variable absent from the condition.
        self.target: str | None = None
        self.target_lut: np.ndarray | None = None
        self.target_test = None
        cons = spec.consequence
        if cons.kind == "atom" and cons.variable not in self.condition_vars:
            assert cons.variable is not None and cons.test is not None
            self.target = cons.variable
            self.target_test = cons.test
            self.target_lut = test_lut(dataset.variables[cons.variable], cons.test)

    def _is_valid(self, frame: Frame) -> np.ndarray:
        return ~self.condition(frame) | self.consequence(frame)

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        if name != self.target or self.target_lut is None:
            return None
        active = self.condition(frame)
        mask = np.ones((frame.n, n_codes + 1), dtype=bool)
        mask[active] = self.target_lut
        return mask

    def bounds(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        test = self.target_test
        if name != self.target or test is None or self.target_lut is not None:
            return None
        var = self.dataset.variables[name]
        active = self.condition(frame)
        low = np.full(frame.n, -np.inf)
        high = np.full(frame.n, np.inf)
        if test.op == "in" and len(test.values) == 1:  # {eq: v} on a number
            low[active] = high[active] = number(var, test.values[0])
            return low, high
        if test.op != "range":
            return None
        if test.low is not None:
            low[active] = number(var, test.low)
        if test.high is not None:
            high[active] = number(var, test.high)
        return low, high

    def forced_null(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        test = self.target_test
        if name != self.target or test is None:
            return None
        active = self.condition(frame)
        none = np.zeros(frame.n, dtype=bool)
        if test.op == "null":
            return active, none
        if test.op in ("present", "range") or test.op == "in":
            return none, active
        return None


def parse(ctx: ParseContext, item: dict[str, Any]) -> ImplicationSpec:
    if "if" not in item or "then" not in item:
        raise ValueError("an implication needs 'if' and 'then'")
    return ImplicationSpec(**ctx.base, condition=parse_condition(item["if"]), consequence=parse_condition(item["then"]))


def check(ctx: CheckContext, rule: ImplicationSpec) -> None:
    for cond in (rule.condition, rule.consequence):
        ctx.condition(cond)


def _allowed(var: Variable, test: Test) -> set[str] | None:
    """Codes of a categorical variable that pass a test, or None when not applicable."""
    if not var.is_categorical:
        return None
    codes = domain_codes(var)
    if test.op == "in":
        return codes & {str(v) for v in test.values}
    if test.op == "not_in":
        return codes - {str(v) for v in test.values}
    return None


def _atom_map(cond: Condition) -> dict[str, Test] | None:
    """A conjunction of atoms as {variable: test}; None for any other shape."""
    if cond.kind == "atom":
        assert cond.variable is not None and cond.test is not None
        return {cond.variable: cond.test}
    if cond.kind == "all" and all(c.kind == "atom" for c in cond.children):
        out: dict[str, Test] = {}
        for c in cond.children:
            assert c.variable is not None and c.test is not None
            if c.variable in out:
                return None
            out[c.variable] = c.test
        return out
    return None


def check_contradictions(ctx: CheckContext, rules: Sequence[ImplicationSpec]) -> None:
    """Detectable contradictions: a reachable condition whose consequence no code satisfies, and two rules with
    the same condition whose consequences on one variable exclude each other."""
    variables = ctx.spec.variables
    by_condition: dict[str, list[tuple[ImplicationSpec, dict[str, Test]]]] = {}
    for rule in rules:
        cond = _atom_map(rule.condition)
        cons = _atom_map(rule.consequence)
        if cond is None or cons is None:
            continue
        if not all(_allowed(variables[v], t) != set() for v, t in cond.items()):
            continue  # the condition never holds
        for name, test in cons.items():
            if _allowed(variables[name], test) == set():
                ctx.issue("contradiction", f"when {rule.condition.describe()}, {name} must be {test.describe()}, "
                          f"but no code of {name} allowed by its constraints does", rule=rule.id, variable=name)
        by_condition.setdefault(rule.condition.describe(), []).append((rule, cons))
    for group in by_condition.values():
        for i, (r1, c1) in enumerate(group):
            for r2, c2 in group[i + 1:]:
                for name in set(c1) & set(c2):
                    a, b = _allowed(variables[name], c1[name]), _allowed(variables[name], c2[name])
                    nullish = {c1[name].op, c2[name].op}
                    if (a is not None and b is not None and not (a & b)) or nullish == {"null", "present"}:
                        ctx.issue("contradiction", f"rules {r1.id} and {r2.id} have the same condition "
                                  f"({r1.condition.describe()}) but exclude each other on {name}",
                                  rule=f"{r1.id}, {r2.id}", variable=name)


def signature(rule: ImplicationSpec, name: str, codes: tuple[str, ...]) -> list[object]:
    """Per code: its membership of each code set the rule tests on the variable (a range keeps codes apart)."""
    sig: list[list[object]] = [[] for _ in codes]
    for atom in (*rule.condition.atoms(), *rule.consequence.atoms()):
        if atom.variable == name and atom.test is not None:
            members = {str(v) for v in atom.test.values}
            for i, c in enumerate(codes):
                sig[i].append((rule.id, "pos", i) if atom.test.op == "range" else (rule.id, c in members))
    return [tuple(s) for s in sig]


KIND = register_kind(RuleKind(
    spec=ImplicationSpec, runtime=Implication, keys=("if", "then"), parse=parse, check=check,
    check_all=check_contradictions, signature=signature, order=10, doc="""
  - id: no-job-no-sector
    kind: implication                  # if condition then condition
    reason: Persons without a job have no sector.
    if: {position: {in: ["21", "22", "23", "31", "32"]}}
    then: {sector: {is: null}}
"""))
