"""Render a report dict as one self-contained HTML page (templates in :mod:`scrambler.reports.templates`)."""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from scrambler.reports import templates
from scrambler.reports.svg import Bar, bar_chart


def show(value: Any) -> Any:
    """How any value reads on the page: never a Python repr (no {'a': 1}, no 1955.0 for a whole number, no
    None/True). Applied to every {{ }} of the templates (Jinja's finalize)."""
    if isinstance(value, Markup | str):
        return value
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(show(v)) for v in value)
    return value


_ENV = Environment(loader=DictLoader({"base": templates.BASE, "internal": templates.INTERNAL,
                                      "shareable": templates.SHAREABLE, "relations": templates.RELATIONS,
                                      "story": templates.STORY, "privacy_words": templates.PRIVACY_WORDS}),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   undefined=StrictUndefined, finalize=show)
_ENV.filters["show"] = show


def internal_charts(report: dict[str, Any]) -> dict[str, Any]:
    series = report["coverage"]["series"]
    variables = report["coverage"]["variables"]
    coverage = [Bar(v["variable"], {s: v["present"][s] / max(v["codes"], 1) for s in series}) for v in variables]
    charts: dict[str, Any] = {"coverage": bar_chart("categories present, share of the code list", coverage, series),
                              "variables": {}}
    charts["story"] = {}
    for v in variables:
        totals = {s: sum(c[s] for c in v["categories"]) for s in series}
        bars = [Bar(f'{c["code"]} {c["label"]}' if c["label"] != c["code"] else c["code"],
                    {s: c[s] / totals[s] if totals[s] else 0.0 for s in series}) for c in v["categories"]]
        charts["variables"][v["variable"]] = bar_chart(f'{v["variable"]}: share of each category', bars, series)
        charts["story"][v["variable"]] = bar_chart(v["variable"], bars, series, compact=True)
    d = report["privacy"]["distance"]
    n = max(d["rows"], 1)
    hist = d["histogram"]
    last = max((i for i, x in enumerate(hist) if x), default=0)
    charts["distance"] = bar_chart("scrambled persons by distance to the closest input record",
                                   [Bar(f"{i} differing", {"scrambled": x / n}) for i, x in
                                    enumerate(hist[:last + 2])], ["scrambled"])
    shapes = report["fidelity"].get("column_shapes", [])
    charts["shapes"] = bar_chart("column shapes: similarity of each variable's distribution (1 = identical)",
                                 [Bar(s["variable"], {"scrambled": s["score"] or 0.0}) for s in shapes],
                                 ["scrambled"]) if shapes else ""
    return charts


def shareable_charts(report: dict[str, Any]) -> dict[str, Any]:
    variables = [v for v in report["codebook"]["variables"] if "codes" in v]
    note = f"<{report['small_cell_threshold']}"
    coverage = [Bar(v["name"], {"scrambled": v["codes_in_scrambled"] / max(len(v["codes"]), 1)})
                for v in variables]
    charts: dict[str, Any] = {"coverage": bar_chart("categories present in the scrambled data, share of the "
                                                    "code list", coverage, ["scrambled"]), "variables": {}}
    for v in variables:
        total = sum(c["scrambled"] for c in v["codes"] if isinstance(c["scrambled"], int))
        bars = [Bar(c["code"], {"scrambled": c["scrambled"] / total if isinstance(c["scrambled"], int) and total
                                else None}, note=note if c["in_scrambled"] else "absent") for c in v["codes"]]
        charts["variables"][v["name"]] = bar_chart(f'{v["name"]}: share of each category (scrambled data)', bars,
                                                   ["scrambled"])
    charts["story"] = {name: bar_chart(name, [Bar(b.label, b.values, b.note) for b in _bars(v, note)],
                                       ["scrambled"], compact=True)
                       for v in variables for name in [v["name"]]}
    return charts


def _bars(v: dict[str, Any], note: str) -> list[Bar]:
    total = sum(c["scrambled"] for c in v["codes"] if isinstance(c["scrambled"], int))
    return [Bar(f'{c["code"]} {c["label"]}' if c["label"] != c["code"] else c["code"],
                {"scrambled": c["scrambled"] / total if isinstance(c["scrambled"], int) and total else None},
                note=note if c["in_scrambled"] else "absent") for c in v["codes"]]


def rule_summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules grouped by kind (rules, rows checked, violations): a certificate of hundreds of all-zero rows
    reads as one line per kind; rules with violations are listed one by one anyway."""
    kinds: dict[str, dict[str, Any]] = {}
    for r in results:
        k = kinds.setdefault(r["kind"], {"kind": r["kind"], "rules": 0, "checked": 0, "violations": 0})
        k["rules"] += 1
        k["checked"] += r["checked"]
        k["violations"] += r["violations"]
    return sorted(kinds.values(), key=lambda k: (-k["violations"], k["kind"]))


def _markup(charts: dict[str, Any]) -> dict[str, Any]:
    return {k: _markup(v) if isinstance(v, dict) else Markup(v) for k, v in charts.items()}


def render(report: dict[str, Any]) -> str:
    kind = report["kind"]
    if kind == "internal":
        charts = internal_charts(report)
        extra = {"heading": "internal report", "kinds": rule_summary(report["certificate"]["results"])}
    else:
        charts = shareable_charts(report)
        extra = {"heading": "report for researchers"}
    return _ENV.get_template(kind).render(r=report, charts=_markup(charts), **extra)
