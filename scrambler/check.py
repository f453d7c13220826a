"""The independent check: every declared constraint, vectorised, on a dataset (tables or a panel).

``check(spec, data)`` returns a :class:`CheckReport`: one result per rule (built-in and declared) with the
rows checked, the violations and the first few examples (identifier, period and the values involved - never
a whole record). This is the regression test on constraint preservation that KSZ engineers run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from scrambler.constraints.base import CompiledRule
from scrambler.constraints.domain import build_domain
from scrambler.constraints.registry import compile_rules
from scrambler.decode import tables_to_panel
from scrambler.errors import Issue
from scrambler.panel import Panel, is_null, null_of
from scrambler.spec.model import DatasetSpec
from scrambler.spec.time import format_period

EXAMPLES = 5
CHECK_THREADS = 2  # rules checked at once


@dataclass
class RuleResult:
    rule: str
    kind: str
    code: str
    variables: tuple[str, ...]
    reason: str
    checked: int = 0
    violations: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "code": self.code, "variables": list(self.variables),
                "reason": self.reason, "checked": self.checked, "violations": self.violations,
                "examples": self.examples}


@dataclass
class CheckReport:
    dataset: str
    results: list[RuleResult]
    issues: list[Issue]  # structural problems (schema, codes, consistency)
    persons: int = 0

    @property
    def violations(self) -> int:
        return sum(r.violations for r in self.results) + len(self.issues)

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def by_rule(self) -> dict[str, RuleResult]:
        return {r.rule: r for r in self.results}

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "ok": self.ok, "persons": self.persons, "violations": self.violations,
                "rules_checked": len(self.results), "issues": [i.to_dict() for i in self.issues],
                "results": [r.to_dict() for r in self.results]}

    def format_text(self, shown: int = 20) -> str:
        lines = []
        for issue in self.issues[:shown]:
            lines.append(str(issue))
        if len(self.issues) > shown:
            lines.append(f"+{len(self.issues) - shown} more structural issues")
        bad = [r for r in self.results if r.violations]
        for r in bad[:shown]:
            ex = "; ".join(_fmt_example(e) for e in r.examples[:3])
            lines.append(f"[{r.code}] rule {r.rule} ({r.kind}): {r.violations} of {r.checked} rows violate "
                         f"- {r.reason} e.g. {ex}")
        if len(bad) > shown:
            lines.append(f"+{len(bad) - shown} more rules with violations")
        checked = sum(r.checked for r in self.results)
        lines.append(f"{self.dataset}: {len(self.results)} rules, {checked} row checks, {self.persons} persons, "
                     f"{self.violations} violations")
        return "\n".join(lines)


def _fmt_example(example: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in example.items())


class LazyTables(Mapping[str, pa.Table]):
    """The tables of a folder (any format :mod:`scrambler.readers` reads), read when asked and not kept:
    decoding holds one table at a time."""

    def __init__(self, paths: dict[str, Path], spec: DatasetSpec | None = None) -> None:
        from scrambler.readers import spec_columns

        self.paths = paths
        self.types = spec_columns(spec) if spec is not None else {}

    def __getitem__(self, name: str) -> pa.Table:
        return self._read(name)

    def identifiers(self, name: str, column: str) -> pa.Table:
        """Only the identifier column of a table (an empty table when the file has no such column)."""
        return self._read(name, column)

    def _read(self, name: str, only: str | None = None) -> pa.Table:
        from scrambler.readers import columns_of, read_table

        path = self.paths[name]
        if only is not None and only not in columns_of(path):
            return pa.table({})
        return read_table(path, self.types, None if only is None else [only])

    def __contains__(self, name: object) -> bool:  # Mapping's default would read the whole table
        return name in self.paths

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def read_tables(folder: str | Path, spec: DatasetSpec) -> Mapping[str, pa.Table]:
    """The table files of a folder (``<table>.parquet``, ``.csv``, ``.csv.gz``, ``.dta``, ``.sav``,
    ``.sas7bdat``, ``.xpt``; other files are ignored), read lazily and decoded by the spec's types;
    unreadable files are reported before any decoding starts."""
    from scrambler.errors import DataError
    from scrambler.readers import SUFFIXES, columns_of, find_tables

    root = Path(folder)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError([Issue(code="missing-data", file=str(root), message=f"the data folder {what}")])
    paths = find_tables(root)
    if not paths:
        raise DataError([Issue(code="missing-data", file=str(root),
                               message="the folder holds no .parquet table nor any other table file "
                               f"({', '.join(sorted(SUFFIXES))})")])
    for path in paths.values():
        columns_of(path)  # raises unreadable-file
    return LazyTables(paths, spec)


def check(spec: DatasetSpec, data: str | Path | Mapping[str, Any] | Panel) -> CheckReport:
    """Check a dataset against every constraint of ``spec``. ``data``: a folder, a mapping of table name to
    pyarrow Table or pandas DataFrame, or a Panel."""
    return checked(spec, data)[0]


def checked(spec: DatasetSpec, data: str | Path | Mapping[str, Any] | Panel) -> tuple[CheckReport, Panel]:
    """:func:`check`, with the panel it checked: ``data`` decoded (or ``data`` itself, a Panel)."""
    issues: list[Issue] = []
    if isinstance(data, Panel):
        panel = data
    else:
        tables = read_tables(data, spec) if isinstance(data, (str, Path)) else {
            k: v if isinstance(v, pa.Table) else pa.Table.from_pandas(v, preserve_index=False)
            for k, v in data.items()}
        decoded = tables_to_panel(spec, tables)
        panel, issues = decoded.panel, decoded.issues
    results = check_panel(panel)
    return CheckReport(dataset=spec.name, results=results, issues=issues, persons=panel.n), panel


def _example(panel: Panel, t: int | None, rows: np.ndarray, names: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    spec = panel.spec
    for r in rows[:EXAMPLES]:
        ex: dict[str, Any] = {spec.identifier: int(panel.ids[r])}
        if t is not None:
            ex["period"] = format_period(panel.periods[t], spec.panel.grain)
        for name in names:
            var = spec.variables[name]
            value = panel.values(name, t if t is not None else 0)[r]
            if var.is_categorical:
                ex[name] = None if value < 0 else var.codes[value]
            else:
                ex[name] = None if np.isnan(value) else float(value)
        out.append(ex)
    return out


def _applicable(panel: Panel, names: tuple[str, ...], t: int, always: bool) -> np.ndarray:
    mask = np.ones(panel.n, dtype=bool) if always else panel.present[t].copy()
    for name in names:
        obs = panel.is_observed(name, t)
        if obs is not None:
            mask &= obs
    return mask


def check_panel(panel: Panel) -> list[RuleResult]:
    """Every rule (and every variable's domain) over the panel, in the spec's order. The rules read the panel
    only and do not depend on each other: they run on CHECK_THREADS threads (their numpy work leaves the
    GIL): 200,000 persons' 269 rules took 1.3 s on one thread, 0.7 s on two."""
    rules = compile_rules(panel.spec)
    with ThreadPoolExecutor(CHECK_THREADS) as pool:
        domains = pool.submit(_check_domains, panel)
        checked = list(pool.map(partial(_check_rule, panel), rules))
        return domains.result() + checked


def _check_rule(panel: Panel, rule: CompiledRule) -> RuleResult:
    result = RuleResult(rule=rule.id, kind=rule.kind, variables=rule.variables, reason=rule.spec.reason,
                        code="temporal-error" if rule.temporal else "relation-error")
    if rule.temporal:
        _check_temporal(panel, rule, result)
        return result
    for t in range(len(panel.periods)):
        rows = np.nonzero(_applicable(panel, rule.variables, t, rule.always))[0]
        if len(rows) == 0:
            continue
        valid = rule.is_valid(panel.frame(t, rows))
        result.checked += len(rows)
        bad = rows[~valid]
        result.violations += len(bad)
        if len(bad) and len(result.examples) < EXAMPLES:
            result.examples += _example(panel, t, bad, rule.variables)[:EXAMPLES - len(result.examples)]
    return result


def _check_temporal(panel: Panel, rule: CompiledRule, result: RuleResult) -> None:
    name = rule.variables[0]
    values = panel.periodic[name]
    last = np.full(panel.n, null_of(values), dtype=values.dtype)
    last_t = np.full(panel.n, -1, dtype=np.int64)
    for t in range(len(panel.periods)):
        obs = panel.is_observed(name, t)
        current = values[t]
        usable = ~is_null(current) & (np.ones(panel.n, dtype=bool) if obs is None else obs)
        has_prev = last_t >= 0
        rows = np.nonzero(usable & has_prev)[0]
        if len(rows):
            gap = (t - last_t[rows]).astype(np.int64)
            ok = rule.pair_valid(last[rows], current[rows], gap)
            result.checked += len(rows)
            bad = rows[~ok]
            result.violations += len(bad)
            if len(bad) and len(result.examples) < EXAMPLES:
                result.examples += _example(panel, t, bad, rule.variables)[:EXAMPLES - len(result.examples)]
        last = np.where(usable, current, last)
        last_t = np.where(usable, t, last_t)


def _check_domains(panel: Panel) -> list[RuleResult]:
    """Built-in rules: each variable's merged domain (required, codes, ranges) and presence."""
    spec = panel.spec
    out = []
    for var in spec.data_variables:
        if not var.publish and panel.observed is not None:
            continue
        domain = build_domain(var)
        result = RuleResult(rule=f"domain:{var.name}", kind="domain", code="constraint-error",
                            variables=(var.name,), reason="type, code list and single-variable constraints")
        presence = RuleResult(rule=f"presence:{var.name}", kind="presence", code="presence-error",
                              variables=(var.name,), reason="absent person-periods carry no values")
        periods = [0] if var.is_static else range(len(panel.periods))
        for t in periods:
            obs = panel.is_observed(var.name, t)
            obs = np.ones(panel.n, dtype=bool) if obs is None else obs
            values = panel.values(var.name, t)
            present = panel.present[t] if not var.is_static else np.ones(panel.n, dtype=bool)
            where = obs & (present if var.scope == "present" else np.ones(panel.n, dtype=bool))
            null = is_null(values)
            # null is fine where the variable is nullable, or the person is absent (scope: always)
            null_ok = np.full(panel.n, domain.nullable) | ~present
            if var.is_categorical:
                ok = np.where(null, null_ok, domain.valid_codes(values))
            else:
                ok = np.where(null, null_ok, domain.valid_numbers(values))
            rows = np.nonzero(where)[0]
            result.checked += len(rows)
            bad = rows[~ok[rows]]
            result.violations += len(bad)
            if len(bad) and len(result.examples) < EXAMPLES:
                result.examples += _example(panel, t, bad, (var.name,))[:EXAMPLES - len(result.examples)]
            if not var.is_static and var.scope == "present":
                absent = np.nonzero(obs & ~panel.present[t])[0]
                presence.checked += len(absent)
                bad = absent[~null[absent]]
                presence.violations += len(bad)
                if len(bad) and len(presence.examples) < EXAMPLES:
                    presence.examples += _example(panel, t, bad, (var.name,))[:EXAMPLES - len(presence.examples)]
        out.append(result)
        if presence.checked:
            out.append(presence)
    return out
