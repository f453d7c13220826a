"""The shareable report (travels with the data to researchers): codebook, relations kept by rule and broken
on purpose, the label - built from the spec and the scrambled data only.

It never receives the input: no input count can reach it. Scrambled counts below the small-cell threshold
are shown as "<k" too, since a scrambled count can echo the input's.
"""

from __future__ import annotations

from typing import Any

from scrambler.check import CheckReport
from scrambler.coverage import variable_counts
from scrambler.panel import Panel
from scrambler.reports.categories import variable_label
from scrambler.reports.relations import relations
from scrambler.reports.settings import ReportSettings
from scrambler.scramble.pipeline import LABEL
from scrambler.spec.model import DatasetSpec, Variable
from scrambler.tables import table_columns

PROVENANCE_KEYS = ("dataset", "spec_fingerprint", "content_hash", "persons", "rows", "label")


def small(count: int, threshold: int) -> int | str:
    """A count, or "<threshold" when it is below the small-cell threshold (0 stays 0: the code is absent)."""
    return int(count) if count >= threshold or count == 0 else f"<{threshold}"


def _constraints(var: Variable) -> dict[str, Any]:
    c = var.constraints
    out: dict[str, Any] = {"required": c.required}
    for key in ("minimum", "maximum", "pattern"):
        value = getattr(c, key)
        if isinstance(value, float) and value.is_integer() and var.type != "decimal":
            value = int(value)  # a bound on whole numbers reads 1955, not 1955.0
        if value is not None:
            out[key] = value
    if c.forbidden:
        out["forbidden"] = list(c.forbidden)
    if c.enum:
        out["enum"] = list(c.enum)
    return out


def codebook(spec: DatasetSpec, scrambled: Panel, threshold: int) -> dict[str, Any]:
    counts = variable_counts(scrambled)
    variables = []
    for var in spec.published_variables:
        entry: dict[str, Any] = {"name": var.name, "label": variable_label(var), "type": var.type,
                                 "timing": var.timing, "source": var.source, "group": var.group,
                                 "constraints": _constraints(var)}
        if var.type == "decimal":
            entry["decimals"] = var.decimals
        if var.is_categorical:
            have = counts.get(var.name)
            codes = []
            for i, code in enumerate(var.codes):
                n = int(have[i]) if have is not None else 0
                label = var.codelist.label(code) if var.codelist is not None and code in var.codelist else code
                codes.append({"code": code, "label": label, "in_scrambled": n > 0,
                              "scrambled": small(n, threshold)})
            entry["codes"] = codes
            entry["codes_in_scrambled"] = sum(1 for c in codes if c["in_scrambled"])
        variables.append(entry)
    tables = []
    seen = set()
    for _, table, _ in spec.table_names():
        if table.name in seen:
            continue
        seen.add(table.name)
        tables.append({"name": table.name, "periods": list(table.periods),
                       "columns": [{"column": col, "variable": var.name, "offset": offset}
                                   for col, var, offset in table_columns(spec, table)]})
    return {"variables": variables, "tables": tables}


def headline(check: CheckReport | None, manifest: dict[str, Any], book: dict[str, Any]) -> dict[str, Any]:
    """The certificate in one line, from facts about the scrambled data only: violations of the declared
    rules, code-list coverage, and whether any person-period still equals an input one (a bare yes/no)."""
    codes = [v for v in book["variables"] if "codes" in v]
    after = manifest.get("guard", {}).get("collisions_after")
    out: dict[str, Any] = {"codes_present": sum(v["codes_in_scrambled"] for v in codes),
                           "codes": sum(len(v["codes"]) for v in codes), "variables": len(codes),
                           "no_real_situation": after == 0 if after is not None else None}
    if check is not None:
        out |= {"violations": int(check.violations), "rules": len(check.results),
                "row_checks": int(sum(r.checked for r in check.results))}
    return out


def build_shareable(scrambled: Panel, manifest: dict[str, Any], settings: ReportSettings | None = None,
                    check: CheckReport | None = None) -> dict[str, Any]:
    settings = settings or ReportSettings()
    spec = scrambled.spec
    book = codebook(spec, scrambled, settings.small_cell)
    return {"headline": headline(check, manifest, book), "kind": "shareable", "label": LABEL, "dataset": spec.name, "title": spec.title,
            "deliberation": spec.deliberation, "small_cell_threshold": settings.small_cell,
            "panel": {"grain": spec.panel.grain, "periods": list(spec.panel.periods),
                      "identifier": spec.identifier},
            "about": {k: manifest[k] for k in PROVENANCE_KEYS if k in manifest}
            | {"scrambler": manifest.get("versions", {}).get("scrambler")},
            "coverage_k": spec.scramble.coverage_k,
            "codebook": book, "relations": relations(spec)}
