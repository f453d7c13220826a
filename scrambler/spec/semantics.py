"""Cross-checks of a loaded spec: names, codes, types, empty domains and detectable contradictions."""

from __future__ import annotations

from collections.abc import Iterable

from scrambler.spec.chains import check_chains
from scrambler.spec.conditions import Condition, Test
from scrambler.spec.expressions import Expression
from scrambler.spec.model import (
    AbsorbingSpec,
    ClassifySpec,
    CombinationsSpec,
    CompareSpec,
    DatasetSpec,
    ImplicationSpec,
    MappingSpec,
    StepSpec,
    TransitionSpec,
    Variable,
)
from scrambler.spec.reader import Reader

STEP_TYPES = ("ordinal", "integer", "decimal", "year")


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
            from scrambler.spec.model import TIME_GRAIN
            from scrambler.spec.time import parse_period

            try:
                parse_period(value, TIME_GRAIN[var.type])
                return None
            except ValueError as exc:
                return f"{var.name}: {exc}"
        return f"{value!r} is not a number ({var.name} is {var.type})"
    return f"{var.name} is an identifier and cannot appear in rules"


def check_semantics(reader: Reader, spec: DatasetSpec) -> None:
    rfile = reader.rel(reader.root / "rules.yaml")
    vfile = reader.rel(reader.root / "variables.yaml")
    for var in spec.variables.values():
        _check_variable(reader, var, vfile)
    for rule in spec.rules:
        if any(v not in spec.variables for v in rule.variables):
            continue  # already reported as unknown-variable
        where = {"file": rfile, "rule": rule.id}
        for name in rule.variables:
            if spec.variables[name].type == "identifier":
                reader.issue("type-mismatch", f"identifier {name!r} cannot appear in a rule", **where)
        if isinstance(rule, ImplicationSpec):
            for cond in (rule.condition, rule.consequence):
                _check_condition(reader, spec, cond, where)
        elif isinstance(rule, CombinationsSpec):
            for row in rule.rows:
                for name, value in zip(rule.columns, row, strict=True):
                    if value is not None and (msg := value_problem(spec.variables[name], value)):
                        reader.issue("unknown-code", msg + (f" (in {rule.file})" if rule.file else ""), **where)
        elif isinstance(rule, MappingSpec):
            for a, b in rule.pairs:
                if msg := value_problem(spec.variables[rule.source_var], a):
                    reader.issue("unknown-code", msg, **where)
                if b is not None and (msg := value_problem(spec.variables[rule.target_var], b)):
                    reader.issue("unknown-code", msg, **where)
        elif isinstance(rule, CompareSpec):
            for expr in (rule.left, rule.right):
                _check_expression(reader, spec, expr, where)
        if isinstance(rule, ClassifySpec):
            _check_classify(reader, spec, rule, where)
        if rule.temporal:
            var = spec.variables[rule.variables[0]]
            if var.is_static:
                reader.issue("bad-rule", f"{var.name} is static: it cannot change, a {rule.kind} rule is moot",
                             **where)
            if isinstance(rule, StepSpec) and var.type not in STEP_TYPES:
                reader.issue("type-mismatch", f"step needs an ordinal, integer, decimal or year variable; "
                             f"{var.name} is {var.type}", **where)
            elif (isinstance(rule, StepSpec) and var.type != "decimal"
                  and not all(float(v).is_integer() for v in (rule.min_step, rule.max_step))):
                reader.issue("type-mismatch", f"step on {var.type} {var.name} needs whole min and max, got "
                             f"{rule.min_step} and {rule.max_step}", **where)
            if isinstance(rule, AbsorbingSpec):
                for v in rule.values:
                    if msg := value_problem(var, v):
                        reader.issue("unknown-code", msg, **where)
            if isinstance(rule, TransitionSpec):
                for test in (rule.if_previous, rule.then):
                    _check_test(reader, var, test, where)
    _check_contradictions(reader, spec, rfile)
    check_chains(reader, spec, rfile)
    _check_column_names(reader, spec)
    _check_generator(reader, spec)
    for method in spec.scramble.methods:
        for name in method.variables:
            if spec.variables[name].type == "identifier" and method.method != "new_id":
                reader.issue("bad-value", f"identifier {name!r} can only get new_id", variable=name,
                             file=reader.rel(reader.root / "dataset.yaml"))


def _check_variable(reader: Reader, var: Variable, vfile: str) -> None:
    where = {"file": vfile, "variable": var.name}
    c = var.constraints
    if var.is_categorical:
        for key, values in (("enum", c.enum or ()), ("forbidden", c.forbidden)):
            for v in values:
                if v not in var.codes:
                    reader.issue("unknown-code", f"{key} code {v!r} is not in the code list", **where)
        for key in ("minimum", "maximum"):
            bound = getattr(c, key)
            if bound is not None and bound not in var.codes:
                reader.issue("unknown-code", f"{key} {bound!r} is not a code of the ordinal list", **where)
    from scrambler.constraints.domain import empty_domain_reason

    if reason := empty_domain_reason(var):
        reader.issue("empty-domain", reason, **where)


def _check_test(reader: Reader, var: Variable, test: Test, where: dict[str, str]) -> None:
    if test.op in ("in", "not_in"):
        for v in test.values:
            if msg := value_problem(var, v):
                reader.issue("unknown-code", msg, **where)
    elif test.op == "range":
        if var.type == "ordinal":
            for v in (test.low, test.high):
                if v is not None and str(v) not in var.codes:
                    reader.issue("unknown-code", f"{v!r} is not a code of {var.name}", **where)
        elif not var.is_numeric:
            reader.issue("type-mismatch", f"min/max needs a numeric or ordinal variable; {var.name} is {var.type}",
                         **where)
        else:
            for v in (test.low, test.high):
                if v is not None and (msg := value_problem(var, v)):
                    reader.issue("type-mismatch", msg, **where)


def _check_classify(reader: Reader, spec: DatasetSpec, rule: ClassifySpec, where: dict[str, str]) -> None:
    number, klass = spec.variables.get(rule.number), spec.variables.get(rule.class_var)
    if number is not None and number.type not in ("integer", "decimal"):
        reader.issue("type-mismatch", f"classify needs an integer or decimal variable; {number.name} is "
                     f"{number.type}", **where)
    if klass is None:
        return
    if klass.codelist is None:
        reader.issue("type-mismatch", f"classify needs a class variable with a code list; {klass.name} has none",
                     **where)
        return
    for column in (rule.lower, rule.upper):
        if column not in klass.codelist.attributes:
            reader.issue("unknown-attribute", f"code list of {klass.name} has no numeric column {column!r}",
                         **where)


def _check_condition(reader: Reader, spec: DatasetSpec, cond: Condition, where: dict[str, str]) -> None:
    for atom in cond.atoms():
        assert atom.variable is not None and atom.test is not None
        _check_test(reader, spec.variables[atom.variable], atom.test, where)


def _check_expression(reader: Reader, spec: DatasetSpec, expr: Expression, where: dict[str, str]) -> None:
    for term in expr.terms:
        if term.kind == "variable":
            var = spec.variables[term.name]
            if not var.is_numeric:
                reader.issue("type-mismatch", f"compare needs numeric or time variables; {var.name} is {var.type}",
                             **where)
            elif term.unit and var.type not in ("integer", "decimal"):
                reader.issue("type-mismatch", f"a unit ({term.unit}s) may follow a number variable (a duration), "
                             f"not {var.name}, which is {var.type}", **where)
        elif term.kind == "attribute":
            var = spec.variables[term.name]
            if var.codelist is None or term.attribute not in var.codelist.attributes:
                reader.issue("unknown-attribute", f"{term.name}.{term.attribute}: the code list of {term.name} has "
                             f"no numeric column {term.attribute!r}", **where)


def _allowed(var: Variable, test: Test) -> set[str] | None:
    """Codes of a categorical variable that pass a test, or None when not applicable."""
    if not var.is_categorical:
        return None
    from scrambler.constraints.domain import domain_codes

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


def _check_contradictions(reader: Reader, spec: DatasetSpec, rfile: str) -> None:
    """Detectable contradictions: a reachable condition whose consequence no code satisfies, and two rules with
    the same condition whose consequences on one variable exclude each other."""
    implications = [r for r in spec.rules if isinstance(r, ImplicationSpec)
                    and all(v in spec.variables for v in r.variables)]
    by_condition: dict[str, list[tuple[ImplicationSpec, dict[str, Test]]]] = {}
    for rule in implications:
        cond = _atom_map(rule.condition)
        cons = _atom_map(rule.consequence)
        if cond is None or cons is None:
            continue
        reachable = all(_allowed(spec.variables[v], t) != set() for v, t in cond.items())
        if not reachable:
            continue
        for name, test in cons.items():
            var = spec.variables[name]
            allowed = _allowed(var, test)
            if allowed == set():
                reader.issue("contradiction", f"when {rule.condition.describe()}, {name} must be "
                             f"{test.describe()}, but no code of {name} allowed by its constraints does",
                             file=rfile, rule=rule.id, variable=name)
            if test.op == "null" and var.constraints.required and name not in cond:
                pass  # required means "when present"; absence makes it null: not a contradiction by itself
        by_condition.setdefault(rule.condition.describe(), []).append((rule, cons))
    for group in by_condition.values():
        for i, (r1, c1) in enumerate(group):
            for r2, c2 in group[i + 1:]:
                for name in set(c1) & set(c2):
                    a, b = _allowed(spec.variables[name], c1[name]), _allowed(spec.variables[name], c2[name])
                    nullish = {c1[name].op, c2[name].op}
                    if (a is not None and b is not None and not (a & b)) or nullish == {"null", "present"}:
                        reader.issue("contradiction", f"rules {r1.id} and {r2.id} have the same condition "
                                     f"({r1.condition.describe()}) but exclude each other on {name}",
                                     file=rfile, rule=f"{r1.id}, {r2.id}", variable=name)


MAX_COLUMN = 32  # Stata's and SAS's limit; researchers must be able to open the tables in their tools


def _check_column_names(reader: Reader, spec: DatasetSpec) -> None:
    """Published column names (variable + block suffix, plus "_code" where Stata/SPSS need a companion
    column for text codes) must fit the researchers' tools."""
    dfile = reader.rel(reader.root / "dataset.yaml")
    seen: set[str] = set()
    for table in spec.tables:
        for block in table.blocks:
            for name in block.variables:
                var = spec.variables[name]
                column = name + block.suffix
                text_codes = var.type in ("categorical", "ordinal") and not all(
                    c.isdigit() and not c.startswith("0") for c in var.codes)
                longest = column + ("_code" if text_codes else "")
                if len(longest) > MAX_COLUMN and column not in seen:
                    seen.add(column)
                    reader.issue("name-too-long", f"column {longest!r} has {len(longest)} characters; Stata and SAS "
                                 f"allow {MAX_COLUMN}: shorten the variable name", file=dfile, table=table.name,
                                 variable=name)


def _codes_ok(reader: Reader, var: Variable, codes: Iterable[str], where: dict[str, str]) -> None:
    for code in codes:
        if var.is_categorical and code not in var.codes:
            reader.issue("unknown-code", f"{code!r} is not a code of {var.name}", **where)


def _check_generator(reader: Reader, spec: DatasetSpec) -> None:
    gen = spec.generator
    gfile = reader.rel(reader.root / "generator.yaml")
    for name, weights in gen.weights.items():
        _codes_ok(reader, spec.variables[name], weights, {"file": gfile, "variable": name})
    for name, (given, table) in gen.conditional.items():
        where = {"file": gfile, "variable": name}
        _codes_ok(reader, spec.variables[given], table, where)
        for row in table.values():
            _codes_ok(reader, spec.variables[name], row, where)
    for entry in gen.entries:
        for name, value in entry.set.items():
            if name in spec.variables and value != "period" and (msg := value_problem(spec.variables[name], value)):
                reader.issue("unknown-code", msg, file=gfile, rule="dynamics.entries")
    if gen.death_variable in spec.variables and gen.death_value is not None:
        if msg := value_problem(spec.variables[gen.death_variable], gen.death_value):  # type: ignore[index]
            reader.issue("unknown-code", f"dynamics.death value: {msg}", file=gfile, rule="dynamics.death")
        elif not spec.variables[gen.death_variable].is_categorical:  # type: ignore[index]
            reader.issue("type-mismatch", "dynamics.death variable must be categorical or boolean", file=gfile,
                         rule="dynamics.death")
    if gen.ageing_variable and gen.ageing_variable in spec.variables:
        if spec.variables[gen.ageing_variable].type != "ordinal":
            reader.issue("type-mismatch", "the ageing variable must be ordinal", file=gfile,
                         variable=gen.ageing_variable)
