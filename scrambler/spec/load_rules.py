"""Parse rules.yaml into rule specification objects (one dataclass per kind, see model.py)."""

from __future__ import annotations

from typing import Any

from scrambler.spec.conditions import parse_condition, parse_test
from scrambler.spec.expressions import parse_expression
from scrambler.spec.model import (
    AbsorbingSpec,
    ClassifySpec,
    CombinationsSpec,
    CompareSpec,
    ConstantSpec,
    ImplicationSpec,
    MappingSpec,
    RuleSpec,
    StepSpec,
    TransitionSpec,
    Variable,
)
from scrambler.spec.reader import Reader, code_text

COMMON = ("id", "kind", "reason", "source", "description")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "implication": ("if", "then"),
    "combinations": ("variables", "allowed", "rows"),
    "mapping": ("from", "to", "table", "from_column", "to_column"),
    "compare": ("left", "op", "right"),
    "constant": ("variable",),
    "step": ("variable", "min", "max"),
    "absorbing": ("variable", "values"),
    "transition": ("variable", "if_previous", "then"),
    "classify": ("variable", "class", "lower", "upper", "upper_inclusive"),
}
OPS = ("<", "<=", "=", "!=", ">=", ">")


def load_rules(reader: Reader, doc: dict[str, Any], variables: dict[str, Variable]) -> list[RuleSpec]:
    rfile = reader.rel(reader.root / "rules.yaml")
    reader.check_keys(doc, ("rules",), rfile)
    raw = doc.get("rules")
    if raw is None:
        return []
    if not isinstance(raw, list):
        reader.issue("yaml-structure", "'rules' must be a list", file=rfile)
        return []
    rules: list[RuleSpec] = []
    ids: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            reader.issue("yaml-structure", f"rule #{i + 1} must be a mapping", file=rfile)
            continue
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            reader.issue("missing-key", f"rule #{i + 1} needs an 'id'", file=rfile)
            continue
        where = {"file": rfile, "rule": rule_id}
        if rule_id in ids:
            reader.issue("duplicate-rule", "rule id used twice", **where)
            continue
        ids.add(rule_id)
        kind = item.get("kind")
        if kind not in KIND_KEYS:
            reader.issue("unknown-kind", f"kind {kind!r} is not one of {', '.join(KIND_KEYS)}", **where)
            continue
        reader.check_keys(item, COMMON + KIND_KEYS[kind], **where)
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            reader.issue("missing-reason", "every rule needs a one-line 'reason'", **where)
            reason = ""
        source = item.get("source")
        if is_todo(source):
            reader.issue("todo-source", "the source is still TODO: name the deliberation clause that authorises "
                         "this relation (data minimisation)", **where)
        try:
            rule = _parse(reader, kind, item, rule_id, reason, None if source is None else str(source),
                          variables, where)
        except ValueError as exc:
            reader.issue("bad-rule", str(exc), **where)
            continue
        if rule is None:
            continue
        for name in rule.variables:
            if name not in variables:
                reader.issue("unknown-variable", f"the rule names {name!r}, which is not declared", **where)
        rules.append(rule)
    return rules


def is_todo(source: object) -> bool:
    """A source still to be written (``scrambler draft`` writes ``TODO``): refused like a missing one."""
    return isinstance(source, str) and source.strip().upper().startswith("TODO")


def _parse(reader: Reader, kind: str, item: dict[str, Any], rule_id: str, reason: str, source: str | None,
           variables: dict[str, Variable], where: dict[str, str]) -> RuleSpec | None:
    base: dict[str, Any] = {"id": rule_id, "reason": reason, "source": source}
    if kind == "implication":
        if "if" not in item or "then" not in item:
            raise ValueError("an implication needs 'if' and 'then'")
        return ImplicationSpec(**base, condition=parse_condition(item["if"]),
                               consequence=parse_condition(item["then"]))
    if kind == "compare":
        op = item.get("op")
        if op not in OPS:
            raise ValueError(f"op must be one of {' '.join(OPS)}, got {op!r}")
        if "left" not in item or "right" not in item:
            raise ValueError("a compare rule needs 'left' and 'right'")
        return CompareSpec(**base, left=parse_expression(item["left"]), op=op,
                           right=parse_expression(item["right"]))
    if kind == "classify":
        names = {key: item.get(key) for key in ("variable", "class", "lower", "upper")}
        missing = [key for key, value in names.items() if not isinstance(value, str) or not value]
        if missing:
            raise ValueError(f"a classify rule needs {', '.join(missing)} (names)")
        inclusive = item.get("upper_inclusive", True)
        if not isinstance(inclusive, bool):
            raise ValueError(f"upper_inclusive must be true or false, got {inclusive!r}")
        return ClassifySpec(**base, number=str(names["variable"]), class_var=str(names["class"]),
                            lower=str(names["lower"]), upper=str(names["upper"]), upper_inclusive=inclusive)
    if kind == "combinations":
        return _combinations(reader, item, base, where)
    if kind == "mapping":
        return _mapping(reader, item, base, variables, where)
    variable = item.get("variable")
    if not isinstance(variable, str):
        raise ValueError(f"a {kind} rule needs 'variable'")
    if kind == "constant":
        return ConstantSpec(**base, variable=variable)
    if kind == "step":
        lo, hi = item.get("min", 0), item.get("max", 1)
        # numbers: whole steps for ordinals and integers (checked against the variable's type later)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
            raise ValueError(f"step needs numbers min <= max, got min={lo!r} max={hi!r}")
        return StepSpec(**base, variable=variable, min_step=lo, max_step=hi)
    if kind == "absorbing":
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError("absorbing needs a non-empty 'values' list")
        return AbsorbingSpec(**base, variable=variable, values=tuple(code_text(v) for v in values))
    if "if_previous" not in item or "then" not in item:
        raise ValueError("a transition needs 'if_previous' and 'then'")
    return TransitionSpec(**base, variable=variable, if_previous=parse_test(item["if_previous"]),
                          then=parse_test(item["then"]))


def _rule_csv(reader: Reader, value: Any, where: dict[str, str]
              ) -> tuple[str, list[str], list[tuple[int, dict[str, str]]]] | None:
    """A CSV file a rule names, inside the spec folder: (file as shown, header, numbered rows)."""
    path = reader.spec_path(value, **where)
    if path is None:
        return None
    read = reader.csv_rows(path, **where)
    if read is None:
        return None
    return reader.rel(path), read[0], read[1]


def _combinations(reader: Reader, item: dict[str, Any], base: dict[str, Any], where: dict[str, str]
                  ) -> CombinationsSpec | None:
    columns = item.get("variables")
    if not isinstance(columns, list) or len(columns) < 2 or not all(isinstance(c, str) for c in columns):
        raise ValueError("combinations needs 'variables': a list of at least two variable names")
    if ("allowed" in item) == ("rows" in item):
        raise ValueError("combinations needs exactly one of 'allowed' (a CSV file) or 'rows' (inline)")
    rows: list[tuple[str | None, ...]] = []
    file = None
    if "rows" in item:
        raw = item["rows"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("'rows' must be a non-empty list of lists")
        for r in raw:
            if not isinstance(r, list) or len(r) != len(columns):
                raise ValueError(f"each row must list {len(columns)} values, got {r!r}")
            rows.append(tuple(None if v is None else code_text(v) for v in r))
    else:
        found = _rule_csv(reader, item["allowed"], where)
        if found is None:
            return None
        file, header, body = found
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{file} lacks the column(s) {', '.join(missing)}")
        for _, row in body:
            rows.append(tuple((row[c].strip() or None) for c in columns))
        if not rows:
            raise ValueError(f"{file} lists no allowed combination")
    return CombinationsSpec(**base, columns=tuple(columns), rows=tuple(rows), file=file)


def _mapping(reader: Reader, item: dict[str, Any], base: dict[str, Any], variables: dict[str, Variable],
             where: dict[str, str]) -> MappingSpec | None:
    source, target = item.get("from"), item.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        raise ValueError("a mapping needs 'from' and 'to' variable names")
    from_col = str(item.get("from_column", "code"))
    to_col = str(item.get("to_column", target))
    if "table" in item:
        found = _rule_csv(reader, item["table"], where)
        if found is None:
            return None
        file, header, body = found
        rows = [(r.get(from_col, "").strip(), r.get(to_col, "").strip()) for _, r in body]
        if from_col not in header or to_col not in header:
            raise ValueError(f"{file} needs the columns {from_col!r} and {to_col!r}")
    else:
        var = variables.get(source)
        if var is None or var.codelist is None:
            raise ValueError("mapping without 'table' needs 'from' to be a categorical variable with a code list")
        codelist = var.codelist
        file = codelist.file or ""
        if to_col not in codelist.texts:
            raise ValueError(f"code list {codelist.name!r} has no column {to_col!r}")
        rows = list(zip(codelist.codes, codelist.texts[to_col], strict=True))
    pairs: list[tuple[str, str | None]] = []
    seen: dict[str, str | None] = {}
    for a, b in rows:
        if not a:
            continue
        value = b or None
        if a in seen and seen[a] != value:
            raise ValueError(f"{source} code {a!r} maps to two values ({seen[a]!r} and {value!r})")
        seen[a] = value
        pairs.append((a, value))
    return MappingSpec(**base, source_var=source, target_var=target, pairs=tuple(pairs), file=file)
