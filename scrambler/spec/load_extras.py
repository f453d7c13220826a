"""Parse the `scramble` section of dataset.yaml and generator.yaml."""

from __future__ import annotations

from typing import Any

from scrambler.spec.model import (
    METHODS,
    EntrySpec,
    GeneratorSpec,
    MethodSpec,
    NumericDistribution,
    PersonsSpec,
    ScrambleSpec,
    Variable,
)
from scrambler.spec.reader import Reader, code_text

SCRAMBLE_KEYS = ("methods", "coverage", "guard")
METHOD_KEYS = ("variables", "method", "strata", "amount", "source")
GENERATOR_KEYS = ("weights", "conditional", "numeric", "null_share", "stay", "dynamics", "order", "groups",
                  "persons")
DYNAMICS_KEYS = ("death", "emigration", "ageing", "entries")


def _names(reader: Reader, value: Any, variables: dict[str, Variable], what: str, **where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        reader.issue("bad-value", f"{what} must be a list of variable names", **where)
        return ()
    for v in value:
        if v not in variables:
            reader.issue("unknown-variable", f"{what} names {v!r}, which is not declared", **where)
    return tuple(v for v in value if v in variables)


def _positive_int(reader: Reader, value: Any, what: str, default: int, **where: str) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        reader.issue("bad-value", f"{what} must be a positive integer, got {value!r}", **where)
        return default
    return value


def load_scramble(reader: Reader, raw: Any, variables: dict[str, Variable], dfile: str) -> ScrambleSpec:
    if not isinstance(raw, dict):
        reader.issue("bad-value", "'scramble' must be a mapping", file=dfile)
        return ScrambleSpec()
    reader.check_keys(raw, SCRAMBLE_KEYS, dfile)
    methods = []
    claimed: dict[str, int] = {}
    for i, item in enumerate(raw.get("methods") or []):
        where = {"file": dfile, "rule": f"scramble.methods[{i}]"}
        if not isinstance(item, dict):
            reader.issue("yaml-structure", "a method entry must be a mapping", **where)
            continue
        reader.check_keys(item, METHOD_KEYS, **where)
        names = _names(reader, item.get("variables"), variables, "variables", **where)
        method = item.get("method")
        if method not in METHODS:
            reader.issue("unknown-method", f"method {method!r} is not one of {', '.join(METHODS)}", **where)
            continue
        for n in names:
            if n in claimed:
                reader.issue("duplicate-method", f"variable {n!r} already has a method (entry {claimed[n]})",
                             **where)
            claimed[n] = i
            var = variables[n]
            if method == "perturb" and not var.is_numeric:
                reader.issue("type-mismatch", f"perturb needs a numeric variable; {n!r} is {var.type}", **where)
            if method == "recode" and not var.is_categorical:
                reader.issue("type-mismatch", f"recode needs a categorical variable; {n!r} is {var.type}", **where)
            if method == "new_id" and var.type != "identifier":
                reader.issue("type-mismatch", f"new_id needs an identifier; {n!r} is {var.type}", **where)
        strata = _names(reader, item.get("strata"), variables, "strata", **where)
        amount = item.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0):
            reader.issue("bad-value", f"amount must be a number >= 0, got {amount!r}", **where)
            amount = None
        source = item.get("source", "profile")
        if source not in ("profile", "uniform"):
            reader.issue("bad-value", f"source must be profile or uniform, got {source!r}", **where)
            source = "profile"
        methods.append(MethodSpec(variables=names, method=method, strata=strata,
                                  amount=None if amount is None else float(amount), source=source))
    coverage = raw.get("coverage") or {}
    guard = raw.get("guard") or {}
    where = {"file": dfile}
    if not isinstance(coverage, dict) or not isinstance(guard, dict):
        reader.issue("bad-value", "coverage and guard must be mappings", **where)
        return ScrambleSpec(methods=tuple(methods))
    reader.check_keys(coverage, ("k", "codelist", "combinations"), dfile, rule="scramble.coverage")
    reader.check_keys(guard, ("quasi_identifiers", "k", "tolerance", "combinations"), dfile, rule="scramble.guard")
    combos = []
    for combo in coverage.get("combinations") or []:
        names = _names(reader, combo, variables, "coverage combination", **where)
        if len(names) >= 2:
            combos.append(names)
    qi = guard.get("quasi_identifiers", "all")
    qi_names = None if qi == "all" else _names(reader, qi, variables, "quasi_identifiers", **where)
    return ScrambleSpec(methods=tuple(methods), coverage_k=_positive_int(reader, coverage.get("k"), "coverage k", 5,
                                                                          **where),
                        coverage_codelist=bool(coverage.get("codelist", False)),
                        coverage_combinations=tuple(combos), guard_quasi_identifiers=qi_names,
                        guard_k=_positive_int(reader, guard.get("k"), "guard k", 5, **where),
                        guard_tolerance=_tolerances(reader, guard.get("tolerance"), variables, **where),
                        guard_combinations=_combinations(reader, guard.get("combinations"), variables, **where))


def _tolerances(reader: Reader, raw: Any, variables: dict[str, Variable], **where: str) -> dict[str, float]:
    """guard.tolerance: numeric variable -> a number >= 0 in the variable's unit (0: exact equality)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.issue("bad-value", "guard tolerance must map numeric variables to numbers", rule="scramble.guard",
                     **where)
        return {}
    out = {}
    for name, value in raw.items():
        var = variables.get(name)
        if var is None:
            reader.issue("unknown-variable", f"guard tolerance names {name!r}, which is not declared",
                         rule="scramble.guard", **where)
        elif not var.is_numeric:
            reader.issue("type-mismatch", f"guard tolerance needs a numeric variable; {name!r} is {var.type}",
                         variable=name, rule="scramble.guard", **where)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            reader.issue("bad-value", f"guard tolerance of {name!r} must be a number >= 0, got {value!r}",
                         variable=name, rule="scramble.guard", **where)
        else:
            out[name] = float(value)
    return out


def _combinations(reader: Reader, raw: Any, variables: dict[str, Variable],
                  **where: str) -> tuple[tuple[str, ...], ...] | None:
    """guard.combinations: lists of categorical variables (None when absent: the default applies)."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        reader.issue("bad-value", "guard combinations must be a list of lists of variables", rule="scramble.guard",
                     **where)
        return None
    out = []
    for combo in raw:
        names = _names(reader, combo, variables, "guard combination", **where)
        for n in names:
            if not variables[n].is_categorical:
                reader.issue("type-mismatch", f"guard combination needs categorical variables; {n!r} is "
                             f"{variables[n].type}", variable=n, rule="scramble.guard", **where)
        if names and all(variables[n].is_categorical for n in names):
            out.append(names)
    return tuple(out)


def _rate(reader: Reader, value: Any, what: str, **where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        reader.issue("bad-value", f"{what} must be a probability 0..1, got {value!r}", **where)
        return 0.0
    return float(value)


def _mapping_of(reader: Reader, value: Any, what: str, **where: str) -> dict[Any, Any]:
    """``value`` when it is a mapping (or absent: {}); otherwise an issue and {}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        reader.issue("bad-value", f"{what} must be a mapping, got {value!r}"[:200], **where)
        return {}
    return value


def load_generator(reader: Reader, raw: dict[str, Any], variables: dict[str, Variable]) -> GeneratorSpec:
    gfile = reader.rel(reader.root / "generator.yaml")
    where = {"file": gfile}
    reader.check_keys(raw, GENERATOR_KEYS, gfile)
    weights: dict[str, dict[str, float]] = {}
    for var, table in _mapping_of(reader, raw.get("weights"), "weights", **where).items():
        if var not in variables:
            reader.issue("unknown-variable", f"weights for undeclared variable {var!r}", **where)
            continue
        if not isinstance(table, dict):
            reader.issue("bad-value", f"weights of {var!r} must map codes to numbers", **where, variable=var)
            continue
        weights[var] = {code_text(k): float(v)
                        for k, v in table.items() if isinstance(v, (int, float)) and v >= 0}
        if len(weights[var]) != len(table):
            reader.issue("bad-value", "weights must be numbers >= 0", **where, variable=var)
    conditional: dict[str, tuple[str, dict[str, dict[str, float]]]] = {}
    conditional_raw = raw.get("conditional") or []
    if not isinstance(conditional_raw, list):
        reader.issue("bad-value", "conditional must be a list", **where)
        conditional_raw = []
    for i, item in enumerate(conditional_raw):
        cwhere = {"file": gfile, "rule": f"conditional[{i}]"}
        if not isinstance(item, dict) or item.get("variable") not in variables or item.get("given") not in variables:
            reader.issue("bad-value", "conditional needs declared 'variable' and 'given'", **cwhere)
            continue
        reader.check_keys(item, ("variable", "given", "table"), **cwhere)
        path = reader.spec_path(item.get("table"), **cwhere)
        read = reader.csv_rows(path, **cwhere) if path else None
        if read is None:
            continue
        header, body = read
        weights_by_given: dict[str, dict[str, float]] = {}
        for line, row in body:
            key = row[header[0]].strip()
            try:
                weights_by_given[key] = {c: float(row[c] or 0) for c in header[1:]}
            except ValueError:
                reader.issue("bad-value", "weights must be numbers", file=reader.rel(path), row=str(line))  # type: ignore[arg-type]
        conditional[item["variable"]] = (item["given"], weights_by_given)
    numeric: dict[str, NumericDistribution] = {}
    for var, dist in _mapping_of(reader, raw.get("numeric"), "numeric", **where).items():
        if var not in variables or not isinstance(dist, dict) or dist.get("kind") not in ("uniform", "quantiles",
                                                                                            "relative"):
            reader.issue("bad-value", f"numeric[{var}] needs a declared variable and kind uniform|quantiles|relative",
                         **where)
            continue
        raw_values = dist.get("values") or []
        if not isinstance(raw_values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw_values):
            reader.issue("bad-value", f"numeric[{var}] values must be a list of numbers", **where)
            continue
        values = tuple(float(v) for v in raw_values)
        if dist["kind"] != "uniform" and (len(values) < 2 or list(values) != sorted(values)):
            reader.issue("bad-value", f"numeric[{var}] values must be at least two ascending numbers", **where)
            continue
        numeric[var] = NumericDistribution(kind=dist["kind"], values=values)
    null_share = {str(k): _rate(reader, v, f"null_share[{k}]", **where) for k, v in _mapping_of(reader, raw.get("null_share"), "null_share", **where).items()}
    stay_raw = dict(_mapping_of(reader, raw.get("stay"), "stay", **where))
    stay_default = _rate(reader, stay_raw.pop("default", 0.9), "stay default", **where)
    stay = {str(k): _rate(reader, v, f"stay[{k}]", **where) for k, v in stay_raw.items()}
    for name in (*null_share, *stay):
        if name not in variables:
            reader.issue("unknown-variable", f"{name!r} is not declared", **where)
    dyn = _mapping_of(reader, raw.get("dynamics"), "dynamics", **where)
    reader.check_keys(dyn, DYNAMICS_KEYS, gfile, rule="dynamics")
    death = _mapping_of(reader, dyn.get("death"), "dynamics.death", **where)
    ageing = _mapping_of(reader, dyn.get("ageing"), "dynamics.ageing", **where)
    emigration = _mapping_of(reader, dyn.get("emigration"), "dynamics.emigration", **where)
    for var in (death.get("variable"), ageing.get("variable")):
        if var is not None and (not isinstance(var, str) or var not in variables):
            reader.issue("unknown-variable", f"dynamics names {var!r}, which is not declared", **where)
    entries = []
    entries_raw = dyn.get("entries") or []
    if not isinstance(entries_raw, list):
        reader.issue("bad-value", "dynamics.entries must be a list", **where)
        entries_raw = []
    for item in entries_raw:
        if not isinstance(item, dict):
            reader.issue("bad-value", f"an entry must be a mapping, got {item!r}"[:200], **where)
            continue
        setv = {str(k): code_text(v)
                for k, v in _mapping_of(reader, item.get("set"), "entries set", **where).items()}
        for k in setv:
            if k not in variables:
                reader.issue("unknown-variable", f"entries set {k!r}, which is not declared", **where)
        entries.append(EntrySpec(share=_rate(reader, item.get("share"), "entry share", **where), set=setv))
    order = _names(reader, raw.get("order"), variables, "order", **where)
    groups = _groups(reader, raw.get("groups"), variables, where)
    if groups is not None and groups[0] not in weights:
        weights[groups[0]] = dict(groups[1])  # simulate the groups in proportion to their sizes
    death_value = death.get("value")
    return GeneratorSpec(
        weights=weights, conditional=conditional, numeric=numeric, null_share=null_share, stay=stay,
        stay_default=stay_default, death_rate=_rate(reader, death.get("rate"), "death rate", **where),
        death_variable=death.get("variable"),
        death_value=None if death_value is None else ("true" if death_value is True else str(death_value)),
        emigration_rate=_rate(reader, emigration.get("rate"), "emigration rate", **where),
        ageing_variable=ageing.get("variable"), ageing_rate=_rate(reader, ageing.get("rate"), "ageing rate", **where),
        entries=tuple(entries), order=order, groups=groups, persons=_persons(reader, raw.get("persons"), variables,
                                                                             where))


def _persons(reader: Reader, raw: Any, variables: dict[str, Variable], where: dict[str, Any]) -> PersonsSpec | None:
    """``persons: {ages: [lo, hi], age: {variable, min, max}, sex: {variable, male}}``: what the fake national
    numbers encode (only a spec with a source identifier needs it)."""
    if raw is None:
        return None
    table = _mapping_of(reader, raw, "persons", **where)
    pwhere = {**where, "rule": "persons"}
    reader.check_keys(table, ("ages", "age", "sex"), where["file"], rule="persons")
    ages = table.get("ages")
    if not (isinstance(ages, list) and len(ages) == 2 and all(isinstance(a, int) and not isinstance(a, bool)
                                                              for a in ages) and 0 <= ages[0] <= ages[1] <= 120):
        reader.issue("bad-value", f"persons.ages must be [lowest, highest] whole ages 0..120, got {ages!r}"[:200],
                     **pwhere)
        ages = [0, 0]
    age = _mapping_of(reader, table.get("age"), "persons.age", **where)
    reader.check_keys(age, ("variable", "min", "max"), where["file"], rule="persons.age")
    age_variable = age.get("variable")
    age_min, age_max = str(age.get("min", "")), str(age.get("max", ""))
    if age:
        var = variables.get(age_variable) if isinstance(age_variable, str) else None
        if var is None or var.codelist is None:
            reader.issue("bad-value", f"persons.age.variable must be a declared variable with a code list, got "
                         f"{age_variable!r}"[:200], **pwhere)
            age_variable = None
        else:
            for column in (age_min, age_max):
                if column not in var.codelist.attributes:
                    reader.issue("unknown-attribute", f"persons.age needs 'min' and 'max': numeric columns of "
                                 f"the code list of {var.name}; it has no {column!r}", **pwhere, variable=var.name)
                    age_variable = None
    sex = _mapping_of(reader, table.get("sex"), "persons.sex", **where)
    reader.check_keys(sex, ("variable", "male"), where["file"], rule="persons.sex")
    sex_variable, male = sex.get("variable"), sex.get("male")
    if sex:
        var = variables.get(sex_variable) if isinstance(sex_variable, str) else None
        if var is None or not (var.is_static and var.is_categorical):
            reader.issue("bad-value", f"persons.sex.variable must be a static categorical variable, got "
                         f"{sex_variable!r}"[:200], **pwhere)
            sex_variable = None
        elif code_text(male) not in var.codes:
            reader.issue("unknown-code", f"persons.sex.male {male!r} is not a code of {var.name}"[:200], **pwhere,
                         variable=var.name)
            sex_variable = None
    return PersonsSpec(ages=(ages[0], ages[1]), age_variable=age_variable if age else None, age_min=age_min,
                       age_max=age_max, sex_variable=sex_variable if sex else None,
                       male=code_text(male) if sex and sex_variable else None)


def _groups(reader: Reader, raw: Any, variables: dict[str, Variable], where: dict[str, Any]
            ) -> tuple[str, dict[str, float]] | None:
    """``groups: {variable: V, sizes: {code: relative size}}``: populations sampled separately."""
    if raw is None:
        return None
    table = _mapping_of(reader, raw, "groups", **where)
    reader.check_keys(table, ("variable", "sizes"), where["file"], rule="groups")
    name = table.get("variable")
    var = variables.get(name) if isinstance(name, str) else None
    if var is None:
        reader.issue("unknown-variable", f"groups names {name!r}, which is not declared", **where)
        return None
    if not (var.is_static and var.is_categorical):
        reader.issue("bad-value", "groups need a static categorical variable (one group per person)", **where,
                     variable=var.name)
        return None
    sizes: dict[str, float] = {}
    for code, size in _mapping_of(reader, table.get("sizes"), "groups.sizes", **where).items():
        text = code_text(code)
        if text not in var.codes:
            reader.issue("unknown-code", f"groups.sizes names {text!r}, not a code of {var.name}", **where,
                         variable=var.name)
        elif isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
            reader.issue("bad-value", f"the size of group {text!r} must be a number > 0, got {size!r}"[:200],
                         **where, variable=var.name)
        else:
            sizes[text] = float(size)
    if not sizes:
        reader.issue("bad-value", "groups.sizes must give at least one group a size", **where, variable=var.name)
        return None
    return var.name, sizes
