"""What a rule kind's semantic checks may use: the spec, issue reporting, and the checks of values, tests,
conditions and expressions against the declared variables (shared by several kinds and the generator checks)."""

from __future__ import annotations

from dataclasses import dataclass

from scrambler.spec.conditions import Condition, Test
from scrambler.spec.expressions import Expression
from scrambler.spec.model import TIME_GRAIN, DatasetSpec, Variable
from scrambler.spec.reader import Reader
from scrambler.spec.time import parse_period


def value_problem(var: Variable, value: object) -> str | None:
    """Why ``value`` cannot be a value of ``var`` (None when it can)."""
    if var.is_categorical:
        if str(value) not in var.codes:
            where = f"code list {var.codelist.name!r}" if var.codelist else "true/false"
            return f"{value!r} is not a code of {var.name} ({where})"
        return None
    if var.is_numeric:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if var.type in ("year_month", "year_quarter"):
            try:
                parse_period(value, TIME_GRAIN[var.type])
                return None
            except ValueError as exc:
                return f"{var.name}: {exc}"
        return f"{value!r} is not a number ({var.name} is {var.type})"
    return f"{var.name} is an identifier and cannot appear in rules"


@dataclass(frozen=True)
class CheckContext:
    """One rule's checks: ``issue`` reports against the rule (file and rule id filled in)."""

    reader: Reader
    spec: DatasetSpec
    where: dict[str, str]

    def issue(self, code: str, message: str, **extra: str) -> None:
        self.reader.issue(code, message, **{**self.where, **extra})

    def for_rule(self, rule_id: str) -> CheckContext:
        return CheckContext(self.reader, self.spec, {**self.where, "rule": rule_id})

    def value(self, var: Variable, value: object, code: str = "unknown-code", suffix: str = "") -> None:
        if msg := value_problem(var, value):
            self.issue(code, msg + suffix)

    def test(self, var: Variable, test: Test) -> None:
        """The values a test names must be values of the variable; min/max needs an order."""
        if test.op in ("in", "not_in"):
            for v in test.values:
                self.value(var, v)
        elif test.op == "range":
            if var.type == "ordinal":
                for v in (test.low, test.high):
                    if v is not None and str(v) not in var.codes:
                        self.issue("unknown-code", f"{v!r} is not a code of {var.name}")
            elif not var.is_numeric:
                self.issue("type-mismatch", f"min/max needs a numeric or ordinal variable; {var.name} is "
                           f"{var.type}")
            else:
                for v in (test.low, test.high):
                    if v is not None:
                        self.value(var, v, code="type-mismatch")

    def condition(self, cond: Condition) -> None:
        for atom in cond.atoms():
            assert atom.variable is not None and atom.test is not None
            self.test(self.spec.variables[atom.variable], atom.test)

    def expression(self, expr: Expression) -> None:
        for term in expr.terms:
            if term.kind == "variable":
                var = self.spec.variables[term.name]
                if not var.is_numeric:
                    self.issue("type-mismatch", f"compare needs numeric or time variables; {var.name} is {var.type}")
                elif term.unit and var.type not in ("integer", "decimal"):
                    self.issue("type-mismatch", f"a unit ({term.unit}s) may follow a number variable (a duration), "
                               f"not {var.name}, which is {var.type}")
            elif term.kind == "attribute":
                var = self.spec.variables[term.name]
                if var.codelist is None or term.attribute not in var.codelist.attributes:
                    self.issue("unknown-attribute", f"{term.name}.{term.attribute}: the code list of {term.name} "
                               f"has no numeric column {term.attribute!r}")
