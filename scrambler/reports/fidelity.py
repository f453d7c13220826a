"""Fidelity: sdmetrics' QualityReport (column shapes, column pair trends) on a sample of one cross-section,
each pair marked as kept by a rule, kept by a swap block, or broken on purpose.

sdmetrics is imported inside the function, so that ``check`` and ``validate`` never load it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from scrambler.panel import Panel
from scrambler.reports.frames import columns, cross_section, sample_rows
from scrambler.reports.relations import rule_pairs, swap_pairs
from scrambler.reports.settings import ReportSettings
from scrambler.spec.time import format_period


def _score(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else round(number, 4)


def fidelity(source: Panel, scrambled: Panel, t: int, settings: ReportSettings) -> dict[str, Any]:
    try:
        from sdmetrics.reports import QualityReport
    except ImportError:
        return {"skipped": "sdmetrics is not installed (pip install 'scrambler[model]')"}
    spec = source.spec
    rng = np.random.default_rng(settings.seed + 1)
    names = columns(spec)
    real = cross_section(source, t, sample_rows(source, t, settings.rows, rng), names)
    synth = cross_section(scrambled, t, sample_rows(scrambled, t, settings.rows, rng), names)
    if len(real) < 50 or len(synth) < 50:
        return {"skipped": f"too few rows at this period ({len(real)} input, {len(synth)} scrambled)"}
    keep = [c for c in names if real[c].notna().any() and synth[c].notna().any()]
    metadata = {"tables": {"cross_section": {"columns": {
        c: {"sdtype": "categorical" if spec.variables[c].is_categorical else "numerical"} for c in keep}}}}
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate({"cross_section": real[keep]}, {"cross_section": synth[keep]}, metadata, verbose=False)
        shapes = report.get_details("Column Shapes")
        trends = report.get_details("Column Pair Trends")
        properties = report.get_properties()
    linked, swapped = rule_pairs(spec), swap_pairs(spec)
    pairs = []
    for row in trends.to_dict("records"):
        key = frozenset((row["Column 1"], row["Column 2"]))
        status = "kept by rule" if key in linked else "kept by swap block" if key in swapped else "broken on purpose"
        pairs.append({"a": row["Column 1"], "b": row["Column 2"], "metric": row["Metric"],
                      "score": _score(row["Score"]), "status": status, "rules": linked.get(key, [])})
    by_status: dict[str, list[float]] = {}
    for p in pairs:
        if p["score"] is not None:
            by_status.setdefault(p["status"], []).append(p["score"])
    return {"period": format_period(source.periods[t], spec.panel.grain), "rows": {"input": len(real),
                                                                                    "scrambled": len(synth)},
            "score": _score(report.get_score()),
            "properties": {r["Property"]: _score(r["Score"]) for r in properties.to_dict("records")},
            "column_shapes": [{"variable": r["Column"], "metric": r["Metric"], "score": _score(r["Score"])}
                              for r in shapes.to_dict("records")],
            "pairs": pairs,
            "pair_means": {k: round(float(np.mean(v)), 4) for k, v in sorted(by_status.items())}}
