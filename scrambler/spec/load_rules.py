"""Parse rules.yaml into rule specification objects: the common keys here, each kind's own keys by its parser in
the rule-kind registry (:mod:`scrambler.constraints.registry`)."""

from __future__ import annotations

from typing import Any

from scrambler.constraints.registry import COMMON_KEYS, ParseContext, find_kind, kinds
from scrambler.spec.model import RuleSpec, Variable
from scrambler.spec.reader import Reader


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
        kind = find_kind(item.get("kind"))
        if kind is None:
            names = ", ".join(k.name for k in kinds())
            reader.issue("unknown-kind", f"kind {item.get('kind')!r} is not one of {names}", **where)
            continue
        reader.check_keys(item, COMMON_KEYS + kind.keys, **where)
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            reader.issue("missing-reason", "every rule needs a one-line 'reason'", **where)
            reason = ""
        source = item.get("source")
        if is_todo(source):
            reader.issue("todo-source", "the source is still TODO: name the deliberation clause that authorises "
                         "this relation (data minimisation)", **where)
        base: dict[str, Any] = {"id": rule_id, "reason": reason, "source": None if source is None else str(source)}
        try:
            rule = kind.parse(ParseContext(reader, variables, base, where), item)
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
