"""Render a report dict as one self-contained HTML page (templates in :mod:`scrambler.reports.templates`)."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from scrambler.reports import templates
from scrambler.reports.svg import Bar, bar_chart

_ENV = Environment(loader=DictLoader({"base": templates.BASE, "internal": templates.INTERNAL,
                                      "shareable": templates.SHAREABLE, "relations": templates.RELATIONS}),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   undefined=StrictUndefined)


def internal_charts(report: dict[str, Any]) -> dict[str, Any]:
    series = report["coverage"]["series"]
    variables = report["coverage"]["variables"]
    coverage = [Bar(v["variable"], {s: v["present"][s] / max(v["codes"], 1) for s in series}) for v in variables]
    charts: dict[str, Any] = {"coverage": bar_chart("categories present, share of the code list", coverage, series),
                              "variables": {}}
    for v in variables:
        totals = {s: sum(c[s] for c in v["categories"]) for s in series}
        bars = [Bar(f'{c["code"]} {c["label"]}' if c["label"] != c["code"] else c["code"],
                    {s: c[s] / totals[s] if totals[s] else 0.0 for s in series}) for c in v["categories"]]
        charts["variables"][v["variable"]] = bar_chart(f'{v["variable"]}: share of each category', bars, series)
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
    return charts


def _markup(charts: dict[str, Any]) -> dict[str, Any]:
    return {k: _markup(v) if isinstance(v, dict) else Markup(v) for k, v in charts.items()}


def render(report: dict[str, Any]) -> str:
    kind = report["kind"]
    if kind == "internal":
        charts = internal_charts(report)
        extra = {"provenance": json.dumps(report["provenance"], indent=2, default=str, ensure_ascii=False),
                 "heading": "internal report"}
    else:
        charts = shareable_charts(report)
        extra = {"heading": "report for researchers"}
    return _ENV.get_template(kind).render(r=report, charts=_markup(charts), **extra)
