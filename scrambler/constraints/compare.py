"""Compare: ``left op right`` over linear expressions of variables, code-list attributes and the period.

Time values are compared in the finest grain involved (a year meets a year_month as its reference month;
``period_start``/``period_end`` anchor at the first/last month). The rule holds vacuously when a term is null.

``previous(x)`` reads x at the panel's previous period. Drawn forward, that value is known; but a value redrawn
at period t (coverage, the guard) is the previous value of the rule at t + 1, so the sampler also gets the
rule's view one period ahead (:meth:`Compare.ahead`): a rule on the values at t, reading the others at t + 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.constraints.base import NEXT, PREVIOUS, CompiledRule, Frame
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import ParseContext, RuleKind, register_kind
from scrambler.spec.expressions import Expression, Term, parse_expression
from scrambler.spec.model import TIME_GRAIN, CompareSpec, DatasetSpec
from scrambler.spec.time import to_months, to_quarters

FINENESS = {"month": 0, "quarter": 1, "year": 2}
PER_UNIT = {("year", "month"): 12, ("year", "quarter"): 4, ("quarter", "month"): 3}
ANCHOR = {"period": "ref", "period_start": "start", "period_end": "end"}
OPS: dict[str, np.ufunc] = {
    "<": np.less, "<=": np.less_equal, "=": np.equal, "!=": np.not_equal, ">=": np.greater_equal, ">": np.greater,
}
FLIP = {"<": ">", "<=": ">=", "=": "=", "!=": "!=", ">=": "<=", ">": "<"}


class Compare(CompiledRule):
    bounds_exact = True  # where bounds() answers, the interval is the rule: the sampler need not re-check it

    def __init__(self, spec: CompareSpec, dataset: DatasetSpec) -> None:  # type: ignore[override]
        super().__init__(spec, dataset)
        self.op = spec.op
        self.terms = [*spec.left.terms, *(self._negate(t) for t in spec.right.terms)]  # left - right op 0
        self.unit = self._common_unit(spec.left, spec.right)
        # where each kind of term reads its column, and how far its period lies from the frame's
        self.columns = {"variable": "", "attribute": "", "previous": PREVIOUS}
        self.period_shift = 0

    def ahead(self) -> CompiledRule | None:
        """The rule at period t + 1 as a rule on the values at t that it reads through ``previous()``: what
        was ``previous(x)`` is x, what was x is ``next:x``, the period one later. None without ``previous()``."""
        lagged = self.spec.lagged  # type: ignore[attr-defined]
        if not lagged:
            return None
        view = Compare(self.spec, self.dataset)  # type: ignore[arg-type]
        kinds = {"previous": "variable", "variable": "next"}  # bounds() solves for the "variable" terms
        view.terms = [Term(sign=t.sign, kind=kinds.get(t.kind, t.kind), name=t.name, attribute=t.attribute,
                           number=t.number, unit=t.unit) for t in self.terms]
        view.columns = {"variable": "", "next": NEXT, "attribute": NEXT}
        view.period_shift = 1
        statics = [v for v in self.variables if self.dataset.variables[v].is_static]
        view.variables = tuple(dict.fromkeys((*lagged, *statics)))
        view.always = any(self.dataset.variables[v].scope == "always" for v in view.variables)
        return view

    @staticmethod
    def _negate(term: Term) -> Term:
        return Term(sign=-term.sign, kind=term.kind, name=term.name, attribute=term.attribute, number=term.number,
                    unit=term.unit)

    def _point_unit(self, term: Term) -> str | None:
        if term.kind in ("variable", "previous", "next"):
            return TIME_GRAIN.get(self.dataset.variables[term.name].type)
        if term.kind == "period":
            return self.dataset.panel.grain
        return None

    def _common_unit(self, *exprs: Expression) -> str:
        # durations count too: "a years + b months" compares in months even with no point in time
        units = [u for e in exprs for t in e.terms if (u := self._point_unit(t) or t.unit)]
        return min(units, key=FINENESS.__getitem__) if units else "number"

    def _term_value(self, term: Term, frame: Frame) -> np.ndarray:
        panel = self.dataset.panel
        if term.kind == "number":
            value = term.number
            if term.unit and self.unit in FINENESS and term.unit != self.unit:
                value *= PER_UNIT.get((term.unit, self.unit), 1)
            return np.full(frame.n, value)
        if term.kind == "attribute":
            var = self.dataset.variables[term.name]
            assert var.codelist is not None
            attr = np.append(np.asarray(var.codelist.attributes[term.attribute], dtype=float), np.nan)
            scale = PER_UNIT.get((term.unit, self.unit), 1) if term.unit and self.unit in FINENESS else 1
            return attr[frame[self._column(term)]] * scale
        if term.kind == "period":
            values = frame.period.astype(float) + self.period_shift
            return self._convert(values, panel.grain, ANCHOR[term.name])
        values = frame[self._column(term)].astype(float)
        grain = TIME_GRAIN.get(self.dataset.variables[term.name].type)
        return self._convert(values, grain, "ref") if grain else values * self._unit_scale(term)

    def _column(self, term: Term) -> str:
        return self.columns[term.kind] + term.name

    def _unit_scale(self, term: Term) -> float:
        """A number variable followed by a unit is a duration: counted in the expression's finest unit."""
        if term.unit and self.unit in FINENESS and term.unit != self.unit:
            return float(PER_UNIT.get((term.unit, self.unit), 1))
        return 1.0

    def _convert(self, values: np.ndarray, grain: str, anchor: str) -> np.ndarray:
        if self.unit == grain or self.unit == "number":
            return values
        ref = self.dataset.panel.reference_month
        if self.unit == "month":
            return to_months(values, grain, anchor, ref)
        return to_quarters(values, grain, anchor, ref)

    def _sum(self, frame: Frame, skip: frozenset[int] = frozenset()) -> np.ndarray:
        total = np.zeros(frame.n)
        for i, term in enumerate(self.terms):
            if i not in skip:
                total = total + term.sign * self._term_value(term, frame)
        return total

    def _is_valid(self, frame: Frame) -> np.ndarray:
        # rounded as bounds() rounds: 77.4 - 37.4 - 40 is 7e-15 in floating point, not a violation of "<= 40"
        diff = np.round(self._sum(frame), 9)
        with np.errstate(invalid="ignore"):
            ok = OPS[self.op](diff, 0.0)
        return ok | np.isnan(diff)

    def bounds(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact bounds on ``name`` in its own values, whatever the expression's unit: a plain number counts
        in the expression's unit (as ``_term_value`` reads it), a coarser time value is converted by the same
        affine map as there and the bounds are mapped back, so the sampler never has to guess."""
        var = self.dataset.variables[name]
        if not var.is_numeric or self.op == "!=":
            return None
        places = [i for i, t in enumerate(self.terms) if t.kind == "variable" and t.name == name]
        if not places:
            return None
        grain = TIME_GRAIN.get(var.type)
        scale, offset = 1.0, 0.0
        if grain and self.unit != "number" and grain != self.unit:
            offset = float(self._convert(np.zeros(1), grain, "ref")[0])
            scale = float(self._convert(np.ones(1), grain, "ref")[0]) - offset
        # X appears in several terms, each sign*(unit*scale*X + offset): sum(sign*unit)*scale*X + sum(sign)*offset
        coef = sum(self.terms[i].sign * self._unit_scale(self.terms[i]) for i in places)
        rest = self._sum(frame, skip=frozenset(places)) + sum(self.terms[i].sign for i in places) * offset
        low = np.full(frame.n, -np.inf)
        high = np.full(frame.n, np.inf)
        known = ~np.isnan(rest)
        if coef == 0:  # the rule does not depend on X: it holds for every value or for none
            with np.errstate(invalid="ignore"):
                fails = known & ~OPS[self.op](rest, 0.0)
            low[fails], high[fails] = np.inf, -np.inf
            return low, high
        # coef*scale*X + rest op 0  ->  X op' -rest / (coef*scale)
        x = np.round(-rest / (coef * scale), 9)
        op = self.op if coef > 0 else FLIP[self.op]
        if var.integral:
            below = {"<": np.ceil(x) - 1, "<=": np.floor(x), "=": np.floor(x)}
            above = {">": np.floor(x) + 1, ">=": np.ceil(x), "=": np.ceil(x)}
        else:
            step = 10.0 ** -var.decimals
            below = {"<": x - step, "<=": x, "=": x}
            above = {">": x + step, ">=": x, "=": x}
        if op in below:
            high[known] = below[op][known]
        if op in above:
            low[known] = above[op][known]
        return low, high


def parse(ctx: ParseContext, item: dict[str, Any]) -> CompareSpec:
    op = item.get("op")
    if op not in OPS:
        raise ValueError(f"op must be one of {' '.join(OPS)}, got {op!r}")
    if "left" not in item or "right" not in item:
        raise ValueError("a compare rule needs 'left' and 'right'")
    return CompareSpec(**ctx.base, left=parse_expression(item["left"]), op=op, right=parse_expression(item["right"]))


def check(ctx: CheckContext, rule: CompareSpec) -> None:
    for expr in (rule.left, rule.right):
        ctx.expression(expr)
    for name in rule.lagged:
        var = ctx.spec.variables.get(name)
        if var is None:
            ctx.issue("unknown-variable", f"previous({name}) names {name!r}, which is not declared")
        elif var.is_static:
            ctx.issue("type-mismatch", f"previous({name}): {name} is static (the same every period); name it "
                      "without previous()")
        elif not var.is_numeric:
            ctx.issue("type-mismatch", f"compare needs numeric or time variables; previous({name}) is {var.type}")
    if rule.lagged and not rule.variables:
        ctx.issue("bad-rule", "a compare rule with previous() must also read a variable at its own period")


# no signature: a compare rule reads code-list attributes, so recode keeps every code apart
KIND = register_kind(RuleKind(spec=CompareSpec, runtime=Compare, keys=("left", "op", "right"), parse=parse,
                              check=check, order=40, doc="""
  - id: registration-before-reference
    kind: compare                      # left op right; op in <, <=, =, !=, >=, >
    reason: Registration cannot lie after the reference date.
    left: registration_year
    op: "<="
    right: period                      # an expression (see below)
"""))
