"""Cross-checks of a loaded spec: names, codes, types, empty domains and detectable contradictions."""

from __future__ import annotations

from collections.abc import Iterable

from scrambler.constraints.checks import CheckContext, value_problem
from scrambler.constraints.domain import empty_domain_reason
from scrambler.constraints.registry import kind_of, kinds
from scrambler.spec.chains import check_chains
from scrambler.spec.model import DatasetSpec, RuleSpec, Variable
from scrambler.spec.reader import Reader

__all__ = ["check_semantics", "value_problem"]


def check_semantics(reader: Reader, spec: DatasetSpec) -> None:
    rfile = reader.rel(reader.root / "rules.yaml")
    vfile = reader.rel(reader.root / "variables.yaml")
    for var in spec.variables.values():
        _check_variable(reader, var, vfile)
    known: list[RuleSpec] = []
    for rule in spec.rules:
        if any(v not in spec.variables for v in rule.variables):
            continue  # already reported as unknown-variable
        known.append(rule)
        ctx = CheckContext(reader, spec, {"file": rfile, "rule": rule.id})
        for name in rule.variables:
            if spec.variables[name].type == "identifier":
                ctx.issue("type-mismatch", f"identifier {name!r} cannot appear in a rule")
        if rule.temporal:
            var = spec.variables[rule.variables[0]]
            if var.is_static:
                ctx.issue("bad-rule", f"{var.name} is static: it cannot change, a {rule.kind} rule is moot")
        kind_of(rule).check(ctx, rule)
    for kind in kinds():
        if kind.check_all is not None:
            kind.check_all(CheckContext(reader, spec, {"file": rfile}), [r for r in known if kind_of(r) is kind])
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
    if reason := empty_domain_reason(var):
        reader.issue("empty-domain", reason, **where)


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
