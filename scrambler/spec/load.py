"""Build a :class:`DatasetSpec` from a spec folder, collecting every problem into one SpecError."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from scrambler.errors import SpecError
from scrambler.spec.load_extras import load_generator, load_scramble
from scrambler.spec.load_rules import is_todo, load_rules
from scrambler.spec.model import (
    TIME_GRAIN,
    TYPES,
    BlockSpec,
    DatasetSpec,
    PanelSpec,
    TableSpec,
    Variable,
    VariableConstraints,
)
from scrambler.spec.reader import Reader
from scrambler.spec.semantics import check_semantics
from scrambler.spec.supports import SUPPORTED
from scrambler.spec.time import GRAINS, parse_period

DATASET_KEYS = ("name", "title", "deliberation", "identifier", "source_identifier", "panel", "tables", "scramble",
                "description")
PANEL_KEYS = ("grain", "start", "end", "reference_month", "presence")
VARIABLE_KEYS = ("name", "type", "codelist", "group", "timing", "scope", "label", "source", "constraints",
                 "decimals", "publish", "description")
CONSTRAINT_KEYS = ("required", "unique", "minimum", "maximum", "enum", "forbidden", "pattern")
TABLE_KEYS = ("name", "periods", "blocks", "description")
BLOCK_KEYS = ("offset", "suffix", "groups", "variables", "exclude")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def load_spec(path: str | Path) -> DatasetSpec:
    """Load and validate a spec folder. Raises SpecError listing every problem found."""
    root = Path(path)
    reader = Reader(root)
    if not root.is_dir():
        raise SpecError([_issue("missing-spec", f"spec folder {root} does not exist", file=str(root))])
    dataset = reader.yaml_file("dataset.yaml")
    var_doc = reader.yaml_file("variables.yaml")
    rules_doc = reader.yaml_file("rules.yaml")
    generator_doc = reader.yaml_file("generator.yaml", required=False)
    if dataset is None or var_doc is None or rules_doc is None:
        raise SpecError(reader.issues)
    dfile = reader.rel(root / "dataset.yaml")
    reader.check_keys(dataset, DATASET_KEYS, dfile)
    groups = _load_groups(reader, var_doc)
    variables = _load_variables(reader, var_doc, set(groups))
    panel = _load_panel(reader, dataset.get("panel"), variables, dfile)
    identifier = _identifier(reader, dataset, "identifier", variables, dfile, required=True)
    source_identifier = _identifier(reader, dataset, "source_identifier", variables, dfile, required=False)
    tables = _load_tables(reader, dataset.get("tables"), variables, groups, panel, dfile)
    rules = load_rules(reader, rules_doc, variables)
    scramble = load_scramble(reader, dataset.get("scramble") or {}, variables, dfile)
    generator = load_generator(reader, generator_doc or {}, variables)
    name = dataset.get("name")
    if not isinstance(name, str) or not name:
        reader.issue("missing-key", "dataset.yaml needs a 'name'", file=dfile)
        name = root.name
    if panel is None or identifier is None:
        raise SpecError(reader.issues)
    spec = DatasetSpec(
        name=name, title=str(dataset.get("title", name)), deliberation=str(dataset.get("deliberation", "")),
        root=str(root), identifier=identifier, source_identifier=source_identifier, panel=panel,
        variables=variables, groups=groups, tables=tuple(tables), rules=tuple(rules), scramble=scramble,
        generator=generator, fingerprint=_fingerprint(root))
    check_semantics(reader, spec)
    if reader.issues:
        raise SpecError(reader.issues)
    return spec


def _issue(code: str, message: str, **where: str) -> Any:
    from scrambler.errors import Issue

    return Issue(code=code, message=message, **where)


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _load_groups(reader: Reader, doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    vfile = reader.rel(reader.root / "variables.yaml")
    reader.check_keys(doc, ("groups", "variables"), vfile)
    raw = doc.get("groups") or {}
    if not isinstance(raw, dict):
        reader.issue("yaml-structure", "'groups' must be a mapping", file=vfile)
        return {}
    return {str(k): {kk: str(vv) for kk, vv in (v or {}).items()} if isinstance(v, dict) else {}
            for k, v in raw.items()}


def _load_variables(reader: Reader, doc: dict[str, Any], groups: set[str]) -> dict[str, Variable]:
    vfile = reader.rel(reader.root / "variables.yaml")
    raw = doc.get("variables")
    if not isinstance(raw, list) or not raw:
        reader.issue("yaml-structure", "'variables' must be a non-empty list", file=vfile)
        return {}
    out: dict[str, Variable] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            reader.issue("yaml-structure", f"variable #{i + 1} must be a mapping", file=vfile)
            continue
        name = item.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            reader.issue("bad-name", f"variable #{i + 1}: name {name!r} must be lower_snake_case", file=vfile)
            continue
        where = {"file": vfile, "variable": name}
        reader.check_keys(item, VARIABLE_KEYS, **where)
        if name in out:
            reader.issue("duplicate-variable", "declared twice", **where)
            continue
        var = _variable(reader, item, name, groups, where)
        if var is not None:
            out[name] = var
    return out


def _variable(reader: Reader, item: dict[str, Any], name: str, groups: set[str],
              where: dict[str, str]) -> Variable | None:
    vtype = item.get("type")
    if vtype not in TYPES:
        reader.issue("bad-type", f"type {vtype!r} is not one of {', '.join(TYPES)}", **where)
        return None
    source = item.get("source")
    if not isinstance(source, str) or not source.strip():
        reader.issue("missing-source", "a variable needs a 'source': the deliberation clause that authorises it "
                     "(data minimisation)", **where)
    elif is_todo(source):
        reader.issue("todo-source", "the source is still TODO: a deliberation clause is needed that authorises "
                     "this variable (data minimisation)", **where)
    codelist = None
    if vtype in ("categorical", "ordinal"):
        cl_name = item.get("codelist")
        if not cl_name:
            reader.issue("missing-codelist", f"a {vtype} variable needs a 'codelist'", **where)
        else:
            codelist = reader.codelist(cl_name, **where)
            if codelist is not None and len(codelist) == 0:
                reader.issue("empty-codelist", f"code list {cl_name!r} has no codes", **where)
    elif item.get("codelist") is not None:
        reader.issue("type-mismatch", f"a {vtype} variable cannot have a codelist", **where)
    group = item.get("group")
    if group is not None and (not isinstance(group, str) or group not in groups):
        reader.issue("unknown-group", f"group {group!r} is not declared under 'groups'", **where)
    timing = item.get("timing", "period")
    if timing not in ("period", "static"):
        reader.issue("bad-value", f"timing must be period or static, got {timing!r}", **where)
    scope = item.get("scope", "present")
    if scope not in ("present", "always"):
        reader.issue("bad-value", f"scope must be present or always, got {scope!r}", **where)
    label = item.get("label") or {}
    if isinstance(label, str):
        label = {"en": label}
    if not isinstance(label, dict):
        reader.issue("bad-value", "label must be a mapping of language to text", **where)
        label = {}
    decimals = item.get("decimals", 2 if vtype == "decimal" else 0)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 10:
        reader.issue("bad-value", f"decimals must be an integer 0..10, got {decimals!r}", **where)
        decimals = 2
    publish = item.get("publish", True)
    if not isinstance(publish, bool):
        reader.issue("bad-value", f"publish must be true or false, got {publish!r}", **where)
        publish = True
    constraints = _constraints(reader, item.get("constraints") or {}, vtype, where)
    return Variable(name=name, type=vtype, source=str(source or ""), codelist=codelist, group=group,
                    timing=timing, scope=scope, label={str(k): str(v) for k, v in label.items()},
                    constraints=constraints, decimals=decimals, publish=publish)


def _constraints(reader: Reader, raw: Any, vtype: str, where: dict[str, str]) -> VariableConstraints:
    if not isinstance(raw, dict):
        reader.issue("bad-value", "constraints must be a mapping", **where)
        return VariableConstraints()
    reader.check_keys(raw, CONSTRAINT_KEYS, **where)
    supported = SUPPORTED[vtype]
    for key in [k for k in CONSTRAINT_KEYS if k in raw and k not in supported]:
        if raw[key] is not None and raw[key] is not False:  # an explicit "no" asks nothing of the engine
            reader.issue("type-mismatch", f"constraint {key!r} does not apply to a {vtype} variable (a {vtype} "
                         f"supports {', '.join(sorted(supported))}; docs/spec-language.md)", **where)
        raw = {k: v for k, v in raw.items() if k != key}
    for flag in ("required", "unique"):
        if flag in raw and not isinstance(raw[flag], bool):
            reader.issue("bad-value", f"constraint {flag} must be true or false, got {raw[flag]!r}", **where)
    bounds: dict[str, Any] = {}
    for key in ("minimum", "maximum"):
        if raw.get(key) is None:
            continue
        value = raw[key]
        if vtype in ("integer", "decimal", "year"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                reader.issue("type-mismatch", f"{key} of a {vtype} variable must be a number, got {value!r}", **where)
                continue
            bounds[key] = float(value)
        elif vtype in TIME_GRAIN:
            try:
                bounds[key] = float(parse_period(value, TIME_GRAIN[vtype]))
            except ValueError as exc:
                reader.issue("type-mismatch", f"{key}: {exc}", **where)
        else:  # ordinal: the only other type that supports bounds
            bounds[key] = str(value)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("enum", "forbidden"):
        if raw.get(key) is None:
            continue
        if not isinstance(raw[key], list):
            reader.issue("bad-value", f"{key} must be a list", **where)
            continue
        lists[key] = tuple(("true" if v else "false") if isinstance(v, bool) else str(v) for v in raw[key])
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            reader.issue("bad-pattern", f"pattern {pattern!r} is not a valid regular expression: {exc}", **where)
            pattern = None
    return VariableConstraints(required=bool(raw.get("required", False)), unique=bool(raw.get("unique", False)),
                               minimum=bounds.get("minimum"), maximum=bounds.get("maximum"),
                               enum=lists.get("enum"), forbidden=lists.get("forbidden", ()),
                               pattern=str(pattern) if pattern is not None else None)


def _load_panel(reader: Reader, raw: Any, variables: dict[str, Variable], dfile: str) -> PanelSpec | None:
    if not isinstance(raw, dict):
        reader.issue("missing-key", "dataset.yaml needs a 'panel' mapping", file=dfile)
        return None
    reader.check_keys(raw, PANEL_KEYS, dfile)
    grain = raw.get("grain", "year")
    if grain not in GRAINS:
        reader.issue("bad-value", f"panel grain must be one of {', '.join(GRAINS)}, got {grain!r}", file=dfile)
        return None
    try:
        start = parse_period(raw.get("start"), grain)
        end = parse_period(raw.get("end"), grain)
    except ValueError as exc:
        reader.issue("bad-value", f"panel start/end: {exc}", file=dfile)
        return None
    if start > end:
        reader.issue("bad-value", f"panel start {raw.get('start')} is after its end {raw.get('end')}", file=dfile)
        return None
    ref = raw.get("reference_month", 12)
    if not isinstance(ref, int) or isinstance(ref, bool) or not 1 <= ref <= 12:
        reader.issue("bad-value", f"reference_month must be 1..12, got {ref!r}", file=dfile)
        ref = 12
    presence = raw.get("presence")
    if not isinstance(presence, str) or presence not in variables:
        reader.issue("unknown-variable", f"panel presence variable {presence!r} is not declared", file=dfile)
        return None
    if variables[presence].is_static or variables[presence].scope == "always":
        reader.issue("bad-value", "the presence variable must be a period variable with scope present",
                     file=dfile, variable=presence)
    return PanelSpec(grain=grain, start=start, end=end, presence=presence, reference_month=ref)


def _identifier(reader: Reader, dataset: dict[str, Any], key: str, variables: dict[str, Variable], dfile: str,
                required: bool) -> str | None:
    name = dataset.get(key)
    if name is None:
        if required:
            reader.issue("missing-key", f"dataset.yaml needs '{key}'", file=dfile)
        return None
    if not isinstance(name, str) or name not in variables:
        reader.issue("unknown-variable", f"{key} {name!r} is not declared in variables.yaml", file=dfile)
        return None
    if variables[name].type != "identifier":
        reader.issue("type-mismatch", f"{key} {name!r} must have type identifier", file=dfile, variable=name)
    return str(name)


def _load_tables(reader: Reader, raw: Any, variables: dict[str, Variable], groups: dict[str, Any],
                 panel: PanelSpec | None, dfile: str) -> list[TableSpec]:
    if not isinstance(raw, list) or not raw:
        reader.issue("missing-key", "dataset.yaml needs a non-empty 'tables' list", file=dfile)
        return []
    tables = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            reader.issue("yaml-structure", f"table #{i + 1} must be a mapping", file=dfile)
            continue
        name = str(item.get("name", ""))
        where = {"file": dfile, "table": name or f"#{i + 1}"}
        reader.check_keys(item, TABLE_KEYS, **where)
        if not isinstance(item.get("periods") or [], list):
            reader.issue("bad-value", f"periods must be a list, got {item.get('periods')!r}", **where)
            continue
        if not name or ("{T}" not in name and len(item.get("periods") or []) > 1):
            reader.issue("bad-value", "a table needs a name containing {T} when it has several periods", **where)
            continue
        if name in names:
            reader.issue("duplicate-table", "table declared twice", **where)
        names.add(name)
        periods: list[int] = []
        for p in item.get("periods") or []:
            if panel is None:
                break
            try:
                value = parse_period(p, panel.grain)
            except ValueError as exc:
                reader.issue("bad-value", f"period: {exc}", **where)
                continue
            if not panel.start <= value <= panel.end:
                reader.issue("bad-value", f"period {p} lies outside the panel", **where)
            periods.append(value)
        if not periods:
            reader.issue("bad-value", "a table needs at least one period", **where)
        blocks = _load_blocks(reader, item.get("blocks"), variables, groups, panel, periods, where)
        tables.append(TableSpec(name=name, periods=tuple(periods), blocks=tuple(blocks)))
    return tables


def _load_blocks(reader: Reader, raw: Any, variables: dict[str, Variable], groups: dict[str, Any],
                 panel: PanelSpec | None, periods: list[int], where: dict[str, str]) -> list[BlockSpec]:
    if not isinstance(raw, list) or not raw:
        reader.issue("missing-key", "a table needs a non-empty 'blocks' list", **where)
        return []
    blocks = []
    suffixes: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            reader.issue("yaml-structure", "a block must be a mapping", **where)
            continue
        reader.check_keys(item, BLOCK_KEYS, **where)
        offset = item.get("offset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool):
            reader.issue("bad-value", f"block offset must be an integer, got {offset!r}", **where)
            continue
        suffix = str(item.get("suffix", ""))
        if suffix in suffixes:
            reader.issue("bad-value", f"two blocks share the suffix {suffix!r}", **where)
        suffixes.add(suffix)
        if panel is not None:
            for p in periods:
                if not panel.start <= p + offset <= panel.end:
                    reader.issue("bad-value", f"block offset {offset} from period {p} lies outside the panel",
                                 **where)
        lists = {key: item.get(key) or [] for key in ("groups", "variables", "exclude")}
        bad = [key for key, value in lists.items()
               if not isinstance(value, list) or not all(isinstance(v, str) for v in value)]
        if bad:
            reader.issue("bad-value", f"block {', '.join(bad)} must be lists of names", **where)
            continue
        names: list[str] = []
        for g in lists["groups"]:
            if g not in groups:
                reader.issue("unknown-group", f"group {g!r} is not declared", **where)
            names.extend(v.name for v in variables.values() if v.group == g)
        for v in lists["variables"]:
            if v not in variables:
                reader.issue("unknown-variable", f"block variable {v!r} is not declared", **where)
            else:
                names.append(v)
        excluded = set(lists["exclude"])
        for v in excluded - set(variables):
            reader.issue("unknown-variable", f"excluded variable {v!r} is not declared", **where)
        chosen = [n for n in dict.fromkeys(names) if n not in excluded and variables[n].publish
                  and variables[n].type != "identifier"]
        if offset != 0:
            statics = [n for n in chosen if variables[n].is_static]
            if statics:
                reader.issue("bad-value", f"static variables appear only in offset-0 blocks: {', '.join(statics)}",
                             **where)
            chosen = [n for n in chosen if not variables[n].is_static]
        blocks.append(BlockSpec(offset=offset, suffix=suffix, variables=tuple(chosen)))
    return blocks
