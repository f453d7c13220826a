"""Property-based tests (Hypothesis): random specs of every rule kind, random stand-in input, scramble.

Each example builds a random spec as plain dicts (variables of random types with random code lists and
single-variable constraints; implication, combinations, mapping, compare, constant, step, absorbing and
transition rules; one or two tables with offset blocks), writes it as YAML + CSV into a temporary folder and
loads it with ``load_spec``. The input is ``generate_population`` (it satisfies the spec by construction),
published as tables and decoded back, exactly what ``scrambler scramble`` reads. Properties:

- the loaded spec equals what was written (variables, constraints, code lists, rules, tables, panel);
- tables -> panel -> tables is the identity;
- scrambling keeps every constraint (``check`` on the output tables);
- every input category occurs at least k times in each table block of the output unless a gap lists it,
  and every listed gap is real;
- no published output person-period equals an input person-period on all published variables (recounted
  here with pandas merges on the tables, independently of ``scrambler.scramble.guard``);
- output identifiers are disjoint from the input's.

Example budget: the "ci" profile (15 examples per property, no deadline) is the default; set
``SCRAMBLER_SLOW=1`` to run the "slow" profile (300 examples per property). See docs/testing.md.
The profiles are registered here, not in conftest.py, and apply to this file only (``@settings``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from scrambler.check import check
from scrambler.decode import tables_to_panel
from scrambler.errors import SpecError, UnsatisfiableError
from scrambler.population import generate_population
from scrambler.scramble import scramble
from scrambler.spec import load_spec
from scrambler.spec.conditions import Condition
from scrambler.spec.conditions import Test as CondTest
from scrambler.spec.expressions import parse_expression
from scrambler.spec.model import (
    AbsorbingSpec,
    ClassifySpec,
    CombinationsSpec,
    CompareSpec,
    ConstantSpec,
    DatasetSpec,
    ImplicationSpec,
    MappingSpec,
    RuleSpec,
    StepSpec,
    TransitionSpec,
    VariableConstraints,
)
from scrambler.spec.time import format_period, parse_period
from scrambler.tables import panel_to_tables

# ---- example budget: "ci" by default, "slow" with SCRAMBLER_SLOW=1 ------------------------------------------

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.function_scoped_fixture],
           "print_blob": True}
settings.register_profile("ci", max_examples=15, **_COMMON)
settings.register_profile("slow", max_examples=300, **_COMMON)
PROFILE = settings.get_profile("slow" if os.environ.get("SCRAMBLER_SLOW") == "1" else "ci")

START = 2019
CAT_TYPES = ("categorical", "ordinal", "boolean")
NUM_TYPES = ("integer", "decimal", "year", "year_month")
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
STATS: Counter[str] = Counter()  # how often examples are discarded, and why (printed by the last test)

# ---- the random spec -------------------------------------------------------------------------------------


def _subset(draw: st.DrawFn, items: list[Any], min_size: int = 1, max_size: int | None = None) -> list[Any]:
    """A non-empty (by default) sub-list of ``items``, in their order."""
    chosen = draw(st.sets(st.sampled_from(items), min_size=min_size,
                          max_size=len(items) if max_size is None else min(max_size, len(items))))
    return [x for x in items if x in chosen]


def _month(value: int) -> str:
    return format_period(value, "month")


@st.composite
def variable_dicts(draw: st.DrawFn, name: str, presence: bool) -> dict[str, Any]:
    """One variable: its YAML entry ('yaml'), its code list rows ('codelist') and its domain for the rules
    ('codes', 'allowed', 'nullable', 'lo', 'hi')."""
    vtype = "categorical" if presence else draw(st.sampled_from(CAT_TYPES + NUM_TYPES))
    static = not presence and draw(st.integers(0, 4)) == 0
    required = presence or draw(st.booleans())
    item: dict[str, Any] = {"name": name, "type": vtype, "source": f"test §{name}"}
    if static:
        item["timing"] = "static"
    if not presence and draw(st.integers(0, 14)) == 0:
        item["publish"] = False
    cons: dict[str, Any] = {}
    if required:
        cons["required"] = True
    out: dict[str, Any] = {"name": name, "type": vtype, "static": static, "nullable": not required,
                           "publish": item.get("publish", True), "codelist": None}
    if vtype in ("categorical", "ordinal"):
        codes = draw(st.lists(st.text(ALPHABET, min_size=1, max_size=3), min_size=2, max_size=5, unique=True))
        weights = None
        if draw(st.booleans()):
            weights = [draw(st.sampled_from([0.05, 0.5, 1, 3, 10])) for _ in codes]
        item["codelist"] = f"cl_{name}"
        out["codelist"] = (f"cl_{name}", codes, weights)
        allowed = list(codes)
        if vtype == "ordinal" and draw(st.booleans()):
            lo, hi = sorted(draw(st.lists(st.integers(0, len(codes) - 1), min_size=2, max_size=2)))
            cons["minimum"], cons["maximum"] = codes[lo], codes[hi]
            allowed = codes[lo:hi + 1]
        elif draw(st.integers(0, 2)) == 0:
            allowed = _subset(draw, codes)
            cons["enum"] = allowed
        elif draw(st.integers(0, 2)) == 0:
            forbidden = _subset(draw, codes, max_size=len(codes) - 1)
            cons["forbidden"] = forbidden
            allowed = [c for c in codes if c not in forbidden]
        out.update(codes=codes, allowed=allowed)
    elif vtype == "boolean":
        allowed = ["false", "true"]
        if draw(st.integers(0, 5)) == 0:
            banned = draw(st.sampled_from(allowed))
            cons["forbidden"] = [banned == "true"]
            allowed = [c for c in allowed if c != banned]
        out.update(codes=["false", "true"], allowed=allowed)
    else:
        if vtype == "integer":
            lo = draw(st.integers(-20, 50))
            hi = lo + draw(st.integers(1, 400))
        elif vtype == "decimal":
            item["decimals"] = draw(st.integers(0, 2))
            lo = draw(st.integers(-5, 50))
            hi = lo + draw(st.integers(1, 100))
        elif vtype == "year":
            lo, hi = draw(st.integers(1950, 2010)), draw(st.integers(2012, 2030))
        else:
            lo = draw(st.integers(2000 * 12, 2015 * 12))
            hi = draw(st.integers(2016 * 12, 2030 * 12))
        cons["minimum"] = _month(lo) if vtype == "year_month" else lo
        cons["maximum"] = _month(hi) if vtype == "year_month" else hi
        out.update(lo=lo, hi=hi)
    if cons:
        item["constraints"] = cons
    out["yaml"] = item
    out["constraints"] = cons
    return out


def _cat_test(draw: st.DrawFn, v: dict[str, Any], consequence: bool, presence: str) -> dict[str, Any]:
    """A test on a categorical variable; as a consequence it leaves at least one allowed value."""
    kinds = ["in", "not_in", "present"]
    if v["nullable"] and v["name"] != presence:
        kinds.append("null")
    if v["type"] == "ordinal":
        kinds.append("range")
    kind = draw(st.sampled_from(kinds))
    if kind == "in":
        return {"in": _subset(draw, v["allowed"] if consequence else v["codes"], max_size=3)}
    if kind == "not_in":
        pool = v["allowed"] if consequence else v["codes"]
        if consequence and len(pool) == 1:
            return {"is": "present"}
        return {"not_in": _subset(draw, pool, max_size=len(pool) - 1 if consequence else len(pool))}
    if kind == "range":
        pool = v["allowed"] if consequence else v["codes"]
        lo, hi = sorted(draw(st.lists(st.integers(0, len(pool) - 1), min_size=2, max_size=2)))
        test: dict[str, Any] = {}
        if draw(st.booleans()):
            test["min"] = pool[lo]
        if draw(st.booleans()) or not test:
            test["max"] = pool[hi]
        return test
    return {"is": None if kind == "null" else "present"}


def _boolean_values(values: list[str]) -> list[bool]:
    return [v == "true" for v in values]


def _num_test(draw: st.DrawFn, v: dict[str, Any]) -> dict[str, Any]:
    kinds = ["range", "present"] + (["null"] if v["nullable"] else [])
    kind = draw(st.sampled_from(kinds))
    if kind != "range":
        return {"is": None if kind == "null" else "present"}
    a, b = sorted(draw(st.lists(st.integers(v["lo"], v["hi"]), min_size=2, max_size=2)))
    fmt = _month if v["type"] == "year_month" else (lambda x: x)
    test: dict[str, Any] = {}
    if draw(st.booleans()):
        test["min"] = fmt(a)
    if draw(st.booleans()) or not test:
        test["max"] = fmt(b)
    return test


def _test(draw: st.DrawFn, v: dict[str, Any], consequence: bool, presence: str) -> dict[str, Any]:
    test = _cat_test(draw, v, consequence, presence) if v["type"] in CAT_TYPES else _num_test(draw, v)
    if v["type"] == "boolean":
        test = {k: _boolean_values(x) if isinstance(x, list) else x for k, x in test.items()}
    return test


@st.composite
def rule_dicts(draw: st.DrawFn, variables: list[dict[str, Any]], periods: int, presence: str
               ) -> tuple[dict[str, Any], dict[str, list[list[str]]]]:
    """One rule as YAML dict, plus CSV files it needs (name -> rows including the header)."""
    kind = draw(st.sampled_from(["implication", "implication", "combinations", "mapping", "compare", "constant",
                                 "step", "absorbing", "transition", "classify"]))
    cats = [v for v in variables if v["type"] in ("categorical", "ordinal")]
    bools_cats = [v for v in variables if v["type"] in CAT_TYPES]
    period_vars = [v for v in variables if not v["static"]]
    files: dict[str, list[list[str]]] = {}
    rule: dict[str, Any] = {"kind": kind, "reason": f"a random {kind} rule"}
    if kind == "implication":
        a = draw(st.sampled_from(variables))
        b = draw(st.sampled_from([v for v in variables if v is not a]))
        rule["if"] = {a["name"]: _test(draw, a, False, presence)}
        rule["then"] = {b["name"]: _test(draw, b, True, presence)}
    elif kind in ("combinations", "mapping"):
        pool = cats if kind == "mapping" else bools_cats
        assume(len(pool) >= 2)
        a, b = draw(st.permutations(pool))[:2]
        targets = b["allowed"] + ([None] if b["nullable"] and b["name"] != presence else [])
        if kind == "combinations":
            rows = []
            for code in a["allowed"] + ([None] if a["nullable"] and draw(st.booleans()) else []):
                for target in _subset(draw, targets, max_size=2):
                    rows.append([code, target])
            if a["type"] == "boolean" or b["type"] == "boolean":
                rows = [[(x == "true") if x is not None and v["type"] == "boolean" else x
                         for x, v in zip(row, (a, b), strict=True)] for row in rows]
            rule.update(variables=[a["name"], b["name"]], rows=rows)
        else:
            csv_name = f"codelists/map_{a['name']}_{b['name']}.csv"
            body = [["code", "target"]]
            for code in a["codes"]:
                if code in a["allowed"] or draw(st.booleans()):
                    body.append([code, draw(st.sampled_from(targets)) or ""])
            files[csv_name] = body
            rule.update({"from": a["name"], "to": b["name"], "table": csv_name, "from_column": "code",
                         "to_column": "target"})
    elif kind == "classify":
        # a number in its class: the class variable's code list cuts the number's domain into consecutive
        # classes (first without a lower bound, last without an upper), so every value has exactly one class
        nums = [v for v in variables if v["type"] in ("integer", "decimal")]
        klasses = [v for v in cats if v["name"] != presence and "bounds" not in v]
        assume(nums and klasses)
        x, c = draw(st.sampled_from(nums)), draw(st.sampled_from(klasses))
        assume(x["hi"] - x["lo"] >= len(c["codes"]))
        cuts = sorted(draw(st.sets(st.integers(x["lo"] + 1, x["hi"]), min_size=len(c["codes"]) - 1,
                                   max_size=len(c["codes"]) - 1)))
        c["bounds"] = list(zip([None, *cuts], [*cuts, None], strict=True))  # [lower, upper) per code
        rule.update(variable=x["name"], **{"class": c["name"]}, lower="lo", upper="hi", upper_inclusive=False)
    elif kind == "compare":
        nums = [v for v in variables if v["type"] in ("integer", "decimal")]
        times = [v for v in variables if v["type"] == "year" and v["lo"] <= START]
        months = [v for v in variables if v["type"] == "year_month"]
        shape = draw(st.sampled_from(["pair", "number", "period", "period_end", "elapsed", "lag"]))
        if shape == "pair" and len(nums) >= 2:
            x, y = draw(st.permutations(nums))[:2]
            op = draw(st.sampled_from(["<", "<=", "=", "!=", ">=", ">"]))
            # keep it satisfiable: some value pair of the two domains passes
            if op in ("<", "<="):
                assume(x["lo"] < y["hi"])
            elif op in (">", ">="):
                assume(x["hi"] > y["lo"])
            elif op == "=":
                assume(max(x["lo"], y["lo"]) <= min(x["hi"], y["hi"]))
            rule.update(left=x["name"], op=op, right=y["name"])
        elif shape == "number" and nums:
            x = draw(st.sampled_from(nums))
            op = draw(st.sampled_from(["<", "<=", ">=", ">", "!="]))
            bound = draw(st.integers(x["lo"] + 1, x["hi"] - 1)) if x["hi"] - x["lo"] >= 2 else x["lo"]
            rule.update(left=x["name"], op=op, right=str(bound))
        elif shape == "lag" and [v for v in nums if not v["static"]]:
            # a change from one period to the next within d (keeping last period's value always passes)
            x = draw(st.sampled_from([v for v in nums if not v["static"]]))
            d = draw(st.integers(0, max(0, (x["hi"] - x["lo"]) // 2)))
            if draw(st.booleans()):
                rule.update(left=f"{x['name']} - previous({x['name']})", op="<=", right=str(d))
            else:
                rule.update(left=x["name"], op=">=", right=f"previous({x['name']}) - {d}")
        elif shape == "period" and times:
            rule.update(left=draw(st.sampled_from(times))["name"], op="<=", right="period")
        elif shape == "elapsed" and times and [v for v in nums if v["type"] == "integer" and not v["static"]]:
            # period arithmetic: `experience = period - career_start` (a number meets a year expression), the
            # number optionally with its unit; kept satisfiable: some year of the domain puts every period's
            # difference inside the number's domain
            x = draw(st.sampled_from([v for v in nums if v["type"] == "integer" and not v["static"]]))
            y = draw(st.sampled_from(times))
            op = draw(st.sampled_from(["=", "<=", ">="]))
            last = START + periods - 1
            if op == "=":
                assume(max(y["lo"], last - x["hi"]) <= min(y["hi"], START - x["lo"], START))
            elif op == "<=":
                assume(x["lo"] <= START - y["lo"])
            else:
                assume(x["hi"] >= last - min(y["hi"], START))
            left = f"{x['name']} years" if draw(st.booleans()) else x["name"]
            rule.update(left=left, op=op, right=f"period - {y['name']}")
        elif months and draw(st.booleans()):
            x = draw(st.sampled_from(months))
            assume(x["lo"] < START * 12)
            rule.update(left=x["name"], op="<=", right="period_end")
        else:
            assume(False)
    else:
        pool = {"constant": period_vars,
                "step": [v for v in period_vars if v["type"] in ("ordinal", "integer", "decimal")],
                "absorbing": [v for v in period_vars if v["type"] in CAT_TYPES],
                "transition": [v for v in period_vars if v["type"] in CAT_TYPES]}[kind]
        assume(pool)
        v = draw(st.sampled_from(pool))
        rule["variable"] = v["name"]
        if kind == "step" and v["type"] == "ordinal":
            rule["min"], rule["max"] = draw(st.sampled_from([(0, 1), (0, 0), (-1, 1), (0, 2)]))
        elif kind == "step":  # a number changes by min..max per period: "grows by exactly 1 a year" included
            steps = [(0, 5), (1, 1), (-2, 2), (0, 0)] + ([(0.5, 2.5)] if v["type"] == "decimal" else [])
            rule["min"], rule["max"] = draw(st.sampled_from(steps))
            assume(v["hi"] - v["lo"] >= rule["max"] * (periods - 1))  # a whole trajectory fits the domain
        elif kind == "absorbing":
            values = _subset(draw, v["allowed"], max_size=2)
            rule["values"] = _boolean_values(values) if v["type"] == "boolean" else values
        elif kind == "transition":
            rule["if_previous"] = {"in": _subset(draw, v["codes"], max_size=2)}
            rule["then"] = {"in": _subset(draw, v["allowed"], max_size=3)}
            if v["type"] == "boolean":
                rule["if_previous"] = {"in": _boolean_values(rule["if_previous"]["in"])}
                rule["then"] = {"in": _boolean_values(rule["then"]["in"])}
    return rule, files


@st.composite
def spec_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A whole random spec: {'dataset', 'variables', 'rules', 'generator': YAML dicts, 'files': CSVs,
    'vars': the variables' domains}."""
    periods = draw(st.integers(2, 4))
    end = START + periods - 1
    n_vars = draw(st.integers(3, 6))
    variables = [draw(variable_dicts("pres", presence=True))]
    variables += [draw(variable_dicts(f"v{i}", presence=False)) for i in range(1, n_vars + 1)]
    presence = "pres"
    rules, files = [], {}
    for i in range(draw(st.integers(0, 6))):
        rule, extra = draw(rule_dicts(variables, periods, presence))
        rules.append({"id": f"r{i}", **rule})
        files.update(extra)
    for v in variables:
        if v["codelist"] is not None:
            name, codes, weights = v["codelist"]
            header = ["code", "label_en"] + (["weight"] if weights else []) + (["lo", "hi"] if "bounds" in v else [])
            bounds = [["" if b is None else str(b) for b in pair] for pair in v.get("bounds", [[]] * len(codes))]
            files[f"codelists/{name}.csv"] = [header] + [
                [c, f"label {c}"] + ([str(w)] if weights else []) + b
                for c, w, b in zip(codes, weights or codes, bounds, strict=True)]
    published = [v["name"] for v in variables if v["publish"]]
    period_published = [v["name"] for v in variables if v["publish"] and not v["static"]]
    tables = []
    # main table: offset 0 with (almost) everything, optional offset +1 / -1 blocks
    offsets = draw(st.sampled_from([(0,), (0, 1), (0, -1)] + ([(0, 1, -1)] if periods > 2 else [])))
    lo = START + (1 if -1 in offsets else 0)
    hi = end - (1 if 1 in offsets else 0)
    table_periods = _subset(draw, list(range(lo, hi + 1)))
    blocks: list[dict[str, Any]] = [{"offset": 0, "variables": published}]
    excluded = [n for n in draw(st.lists(st.sampled_from(published), max_size=1)) if n != presence]
    if excluded:
        blocks[0]["exclude"] = excluded
    for off in offsets[1:]:
        blocks.append({"offset": off, "suffix": "_next" if off == 1 else "_prev",
                       "variables": _subset(draw, period_published)})
    tables.append({"name": "main_{T}", "periods": table_periods, "blocks": blocks})
    if draw(st.booleans()):
        tables.append({"name": "extra_{T}", "periods": _subset(draw, list(range(START, end + 1)), max_size=2),
                       "blocks": [{"offset": 0, "variables": _subset(draw, published)}]})
    methods = []
    for v in variables:
        choices = ["default", "default", "fabricate", "keep"]
        choices += ["swap", "recode"] if v["type"] in CAT_TYPES else ["perturb", "swap"]
        method = draw(st.sampled_from(choices))
        if method != "default":
            methods.append({"variables": [v["name"]], "method": method})
    dataset = {
        "name": "random", "title": "A random spec (property tests)", "deliberation": "test",
        "identifier": "person_id",
        "panel": {"grain": "year", "start": START, "end": end, "presence": presence},
        "tables": tables,
        "scramble": {"methods": methods, "coverage": {"k": draw(st.integers(1, 3))}},
    }
    generator: dict[str, Any] = {"stay": {"default": draw(st.sampled_from([0.3, 0.7, 0.95]))}}
    nullable = [v["name"] for v in variables if v["nullable"] and v["name"] != presence]
    if nullable and draw(st.booleans()):
        generator["null_share"] = {draw(st.sampled_from(nullable)): draw(st.sampled_from([0.1, 0.5]))}
    if draw(st.booleans()):
        generator["dynamics"] = {"emigration": {"rate": draw(st.sampled_from([0.02, 0.1]))}}
    var_yaml = [{"name": "person_id", "type": "identifier", "source": "test §0",
                 "constraints": {"required": True, "unique": True}}] + [v["yaml"] for v in variables]
    return {"dataset": dataset, "variables": {"variables": var_yaml}, "rules": {"rules": rules},
            "generator": generator, "files": files, "vars": variables}


def write_spec(spec_dict: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("dataset", "variables", "rules", "generator"):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec_dict[name], sort_keys=False), encoding="utf-8")
    for rel, rows in spec_dict["files"].items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows[1:], columns=rows[0]).to_csv(path, index=False)
    return folder


# ---- expected spec objects (the round trip) ------------------------------------------------------------


def _bool_text(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _expected_test(test: dict[str, Any]) -> CondTest:
    key, value = next(iter(test.items()))
    if key in ("min", "max"):
        key, value = "range", test
    if key in ("in", "not_in"):
        return CondTest(op=key, values=tuple(_bool_text(x) for x in value))
    if key == "is":
        return CondTest(op="null" if value is None else "present")
    return CondTest(op="range", low=value.get("min"), high=value.get("max"))


def _expected_condition(cond: dict[str, Any]) -> Condition:
    (name, test), = cond.items()
    return Condition(kind="atom", variable=name, test=_expected_test(test))


def expected_rule(rule: dict[str, Any], files: dict[str, list[list[str]]]) -> RuleSpec:
    base = {"id": rule["id"], "reason": rule["reason"], "source": None}
    kind = rule["kind"]
    if kind == "implication":
        return ImplicationSpec(**base, condition=_expected_condition(rule["if"]),
                               consequence=_expected_condition(rule["then"]))
    if kind == "combinations":
        rows = tuple(tuple(None if x is None else _bool_text(x) for x in row) for row in rule["rows"])
        return CombinationsSpec(**base, columns=tuple(rule["variables"]), rows=rows)
    if kind == "mapping":
        pairs = tuple((a, b or None) for a, b in files[rule["table"]][1:])
        return MappingSpec(**base, source_var=rule["from"], target_var=rule["to"], pairs=pairs,
                           file=f"random/{rule['table']}")
    if kind == "compare":
        return CompareSpec(**base, left=parse_expression(rule["left"]), op=rule["op"],
                           right=parse_expression(rule["right"]))
    if kind == "constant":
        return ConstantSpec(**base, variable=rule["variable"])
    if kind == "step":
        return StepSpec(**base, variable=rule["variable"], min_step=rule["min"], max_step=rule["max"])
    if kind == "classify":
        return ClassifySpec(**base, number=rule["variable"], class_var=rule["class"], lower=rule["lower"],
                            upper=rule["upper"], upper_inclusive=rule["upper_inclusive"])
    if kind == "absorbing":
        return AbsorbingSpec(**base, variable=rule["variable"], values=tuple(_bool_text(x) for x in rule["values"]))
    return TransitionSpec(**base, variable=rule["variable"], if_previous=_expected_test(rule["if_previous"]),
                          then=_expected_test(rule["then"]))


def expected_constraints(v: dict[str, Any]) -> VariableConstraints:
    c = v["constraints"]
    bounds: dict[str, Any] = {}
    for key in ("minimum", "maximum"):
        if key in c:
            value = c[key]
            if v["type"] == "ordinal":
                bounds[key] = value
            elif v["type"] == "year_month":
                bounds[key] = float(parse_period(value, "month"))
            else:
                bounds[key] = float(value)
    enum = tuple(c["enum"]) if "enum" in c else None
    forbidden = tuple(_bool_text(x) for x in c.get("forbidden", ()))
    return VariableConstraints(required=c.get("required", False), enum=enum, forbidden=forbidden, **bounds)


# ---- the independent checks on tables (pandas) -------------------------------------------------------------


def _frames(tables: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, table in tables.items():
        df = table.to_pandas()
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = df[col].astype(object)
        out[name] = df
    return out


NULL = "<null>"


def own_year_records(spec: DatasetSpec, tables: dict[str, pa.Table]) -> pd.DataFrame:
    """The published person-periods, the unit of "depicts no real situation": at each table period T, per person
    listed at T, the values of every published variable of the own-year (offset 0) blocks of the tables of
    period T (NULL for null). A table row is its own-year record plus blocks of other years, so an output row
    whose own-year record differs from every input one differs from every input row."""
    frames = _frames(tables)
    ident = spec.identifier
    by_period: dict[int, pd.DataFrame] = {}
    for name, table, period in spec.table_names():
        for block in table.blocks:
            if block.offset != 0:
                continue
            cols = list(block.variables)
            part = frames[name][[ident] + [n + block.suffix for n in cols]].rename(
                columns={n + block.suffix: n for n in cols})
            values = part[cols].astype(object)
            part = part[[ident]].join(values.where(values.notna(), NULL))
            if period in by_period:
                seen = by_period[period]
                part = part[[ident] + [c for c in cols if c not in seen.columns]]
                part = seen.merge(part, on=ident, how="outer")
            by_period[period] = part
    out = [df.assign(period=p) for p, df in by_period.items()]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=[ident, "period"])


def equal_records(spec: DatasetSpec, source: dict[str, pa.Table], output: dict[str, pa.Table]) -> pd.DataFrame:
    """Output own-year records equal to some input own-year record of the same period (pandas merge)."""
    a, b = own_year_records(spec, source), own_year_records(spec, output)
    found = []
    for period, out_part in b.groupby("period"):
        in_part = a[a.period == period].dropna(axis=1, how="all")
        keys = [c for c in out_part.columns if c not in (spec.identifier, "period") and out_part[c].notna().all()]
        if not keys:  # an own-year block with no published variable: nothing to compare
            continue
        left = out_part[[spec.identifier, *keys]].astype({k: str for k in keys})
        right = in_part[keys].astype(str).drop_duplicates()
        found.append(left.merge(right, on=keys, how="inner").assign(period=period))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def block_category_counts(spec: DatasetSpec, tables: dict[str, pa.Table]) -> dict[tuple[str, str, str], Counter]:
    frames = _frames(tables)
    out: dict[tuple[str, str, str], Counter] = {}
    for name, table, _ in spec.table_names():
        for block in table.blocks:
            for var in block.variables:
                if not spec.variables[var].is_categorical:
                    continue
                values = frames[name][var + block.suffix].dropna()
                if spec.variables[var].type == "boolean":
                    values = values.map(lambda x: "true" if x else "false")
                out[(name, block.suffix, var)] = Counter(values.astype(str))
    return out


# ---- the properties ------------------------------------------------------------------------------------


def _load(spec_dict: dict[str, Any], tmp: Path) -> DatasetSpec:
    """Load the written spec; a contradiction the loader detects (two random rules excluding each other)
    discards the example - any other problem is a failure."""
    try:
        return load_spec(write_spec(spec_dict, tmp / "random"))
    except SpecError as exc:
        codes = {i.code for i in exc.issues}
        assert codes <= {"contradiction"}, str(exc)
        STATS["spec rejected: contradiction"] += 1
        assume(False)
        raise  # unreachable: assume(False) raises


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


def _fresh(workdir: Path) -> Path:
    """A new empty folder per example (the fixture is shared by the examples of one test)."""
    n = sum(1 for _ in workdir.iterdir())
    path = workdir / f"ex{n}"
    path.mkdir()
    return path


@PROFILE
@given(spec_dict=spec_dicts())
def test_spec_round_trip(spec_dict: dict[str, Any], workdir: Path) -> None:
    """Spec dicts -> YAML + CSV -> load_spec: the loaded objects equal what was written."""
    spec = _load(spec_dict, _fresh(workdir))
    assert spec.identifier == "person_id"
    panel = spec_dict["dataset"]["panel"]
    assert (spec.panel.start, spec.panel.end, spec.panel.presence) == (panel["start"], panel["end"], "pres")
    assert list(spec.variables) == ["person_id"] + [v["name"] for v in spec_dict["vars"]]
    for v in spec_dict["vars"]:
        var = spec.variables[v["name"]]
        assert var.type == v["type"]
        assert var.is_static == v["static"]
        assert var.publish == v["publish"]
        assert var.constraints == expected_constraints(v)
        if v["type"] in CAT_TYPES:
            assert list(var.codes) == v["codes"]
        if v["codelist"] is not None:
            _, codes, weights = v["codelist"]
            assert var.codelist is not None
            assert var.codelist.weights == (None if weights is None else tuple(float(w) for w in weights))
            assert var.codelist.labels == {"en": tuple(f"label {c}" for c in codes)}
    expected = tuple(expected_rule(r, spec_dict["files"]) for r in spec_dict["rules"]["rules"])
    assert spec.rules == expected
    assert len(spec.tables) == len(spec_dict["dataset"]["tables"])
    for table, raw in zip(spec.tables, spec_dict["dataset"]["tables"], strict=True):
        assert table.periods == tuple(raw["periods"])
        for block, rb in zip(table.blocks, raw["blocks"], strict=True):
            wanted = [n for n in rb["variables"] if n not in rb.get("exclude", [])
                      and (rb["offset"] == 0 or not spec.variables[n].is_static)]
            assert (block.offset, block.suffix, block.variables) == (rb["offset"], rb.get("suffix", ""),
                                                                     tuple(wanted))
    assert spec.scramble.coverage_k == spec_dict["dataset"]["scramble"]["coverage"]["k"]
    assert [(m.variables, m.method) for m in spec.scramble.methods] == [
        (tuple(m["variables"]), m["method"]) for m in spec_dict["dataset"]["scramble"]["methods"]]


def _population(spec: DatasetSpec, n: int, seed: int) -> Any:
    try:
        return generate_population(spec, n, seed)
    except UnsatisfiableError:
        STATS["population unsatisfiable"] += 1
        assume(False)
    except SpecError as exc:  # the rules let nobody stay until a table period (e.g. a forced transition)
        assert {i.code for i in exc.issues} == {"bad-value"}, str(exc)
        STATS["population: too few persons"] += 1
        assume(False)


@PROFILE
@given(spec_dict=spec_dicts(), n=st.integers(20, 80), seed=st.integers(0, 2**16))
def test_tables_panel_round_trip(spec_dict: dict[str, Any], n: int, seed: int, workdir: Path) -> None:
    """panel_to_tables(tables_to_panel(tables).panel) == tables, with no structural issue."""
    spec = _load(spec_dict, _fresh(workdir))
    tables = panel_to_tables(_population(spec, n, seed))
    decoded = tables_to_panel(spec, tables)
    assert decoded.issues == []
    again = panel_to_tables(decoded.panel)
    assert list(again) == list(tables)
    for name in tables:
        assert again[name].equals(tables[name]), name


@PROFILE
@given(spec_dict=spec_dicts(), n=st.integers(30, 120), persons=st.integers(20, 100), seed=st.integers(0, 2**16))
def test_scramble_properties(spec_dict: dict[str, Any], n: int, persons: int, seed: int, workdir: Path) -> None:
    """Scrambling random valid input keeps every constraint, covers every input category k times per table
    block (or lists the gap), reproduces no input person-period, and uses new identifiers."""
    STATS["examples"] += 1
    spec = _load(spec_dict, _fresh(workdir))
    population = _population(spec, n, seed)
    source_tables = panel_to_tables(population)
    source_report = check(spec, source_tables)
    assert source_report.ok, "the stand-in input breaks its own spec:\n" + source_report.format_text()
    source = tables_to_panel(spec, source_tables).panel  # what `scrambler scramble` reads
    try:
        result = scramble(spec, source, persons, seed)
    except UnsatisfiableError as exc:
        codes = {i.code for i in exc.issues}
        note(f"scramble refused: {exc}")
        assert "check-failed" not in codes, str(exc)
        # a random spec with tiny domains may leave no person-period that is not an input person-period
        STATS["scramble refused: " + ",".join(sorted(codes))] += 1
        assume(False)
    STATS["scrambled"] += 1
    out_tables = panel_to_tables(result.panel)

    # (a) every constraint
    report = check(spec, out_tables)
    assert report.ok, report.format_text()

    # (b) coverage: every input category >= k times per table block, unless a gap lists it; gaps are real
    k = spec.scramble.coverage_k
    have, wanted = block_category_counts(spec, out_tables), block_category_counts(spec, source_tables)
    gaps = {(g.table, g.block, g.variable, g.code): g for g in result.gaps}
    for key, counts in wanted.items():
        for code, count in counts.items():
            got = have[key][code]
            if count > 0 and got < k:
                assert (*key, code) in gaps, f"{key} code {code}: {got} < {k} in the output, no gap listed"
    for (table, block, var, code), gap in gaps.items():
        assert have[(table, block, var)][code] == gap.got < gap.wanted == k

    # (c) no published output person-period (own-year record) equals an input one
    equal = equal_records(spec, source_tables, out_tables)
    assert equal.empty, f"{len(equal)} output person-period(s) equal input ones:\n{equal.head()}"

    # (d) identifiers disjoint from the input's
    ids_in = set().union(*(set(t.column(spec.identifier).to_pylist()) for t in source_tables.values()))
    ids_out = set().union(*(set(t.column(spec.identifier).to_pylist()) for t in out_tables.values()))
    assert ids_out and not ids_in & ids_out


def test_discard_rate() -> None:
    """Most random specs are satisfiable: the strategies are built so; report how many were discarded."""
    if not STATS["examples"]:
        pytest.skip("run together with test_scramble_properties")
    print(dict(STATS))
    assert STATS["scrambled"] >= STATS["examples"] // 3, dict(STATS)
