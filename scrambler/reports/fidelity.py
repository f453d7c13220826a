"""Fidelity: sdmetrics' QualityReport (column shapes, column pair trends) on a sample of one cross-section,
each pair marked as kept by a rule, kept by a swap block, or broken on purpose.

sdmetrics is imported inside the functions, so that ``check`` and ``validate`` never load it, and without
torch (:func:`_without_torch`).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from scrambler.panel import Panel
from scrambler.reports.frames import columns, cross_section, sample_rows
from scrambler.reports.relations import rule_pairs, swap_pairs
from scrambler.reports.settings import ReportSettings
from scrambler.reports.workers import Worker
from scrambler.spec.model import DatasetSpec
from scrambler.spec.time import format_period


def _score(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else round(number, 4)


class Pending:
    """The fidelity figures under way (see :mod:`scrambler.reports.workers`): :meth:`result` gives them.

    sdmetrics' column pair trends take seconds (2,000 pairs on a 65-column cross-section), about as long as
    the anonymeter attacks: in a process of their own they run beside them."""

    def __init__(self, spec: DatasetSpec, period: str, real: pd.DataFrame, synth: pd.DataFrame,
                 metadata: dict[str, Any], parallel: bool) -> None:
        self.spec, self.period, self.rows = spec, period, {"input": len(real), "scrambled": len(synth)}
        self.worker = Worker(quality, real, synth, metadata, parallel=parallel)

    def result(self) -> dict[str, Any]:
        return _summary(self.spec, self.period, self.rows, self.worker.result())


class _NoTorch(importlib.abc.MetaPathFinder):
    """Answers an import of torch with ModuleNotFoundError, as if it were not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@contextmanager
def _without_torch() -> Iterator[None]:
    """Import sdmetrics without torch where torch is not loaded yet. sdmetrics' package imports its Bayesian
    network metrics, which import torch at module level when it is installed (sdv needs it): 1.2 of the 2.1 s
    sdmetrics took to import in the report's worker, the report's longest path. The QualityReport never
    uses those metrics, and sdmetrics sets ``torch = None`` when it is missing. Only that one import is
    answered so: torch imports normally afterwards (a failed import leaves nothing in ``sys.modules``)."""
    if "torch" in sys.modules:
        yield
        return
    finder = _NoTorch()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def quality(real: pd.DataFrame, synth: pd.DataFrame, metadata: dict[str, Any]) -> dict[str, Any]:
    """sdmetrics' QualityReport of two frames, as plain records (they cross a process boundary)."""
    with _without_torch():
        from sdmetrics.reports import QualityReport

    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate({"cross_section": real}, {"cross_section": synth}, metadata, verbose=False)
        return {"score": report.get_score(),
                "shapes": report.get_details("Column Shapes").to_dict("records"),
                "trends": report.get_details("Column Pair Trends").to_dict("records"),
                "properties": report.get_properties().to_dict("records")}


def start_fidelity(source: Panel, scrambled: Panel, t: int, settings: ReportSettings,
                   parallel: bool = True) -> Pending | dict[str, Any]:
    """Sample the cross-sections and start the quality report (in a worker process with ``parallel``); a dict
    when there is nothing to compute (sdmetrics missing, too few rows)."""
    # looked up, not imported: the worker imports it (2-3 s the attacks would otherwise wait for here)
    if importlib.util.find_spec("sdmetrics") is None:
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
    return Pending(spec, format_period(source.periods[t], spec.panel.grain), real[keep], synth[keep], metadata,
                   parallel)


def _summary(spec: DatasetSpec, period: str, rows: dict[str, int], figures: dict[str, Any]) -> dict[str, Any]:
    linked, swapped = rule_pairs(spec), swap_pairs(spec)
    pairs = []
    for row in figures["trends"]:
        key = frozenset((row["Column 1"], row["Column 2"]))
        status = "kept by rule" if key in linked else "kept by swap block" if key in swapped else "broken on purpose"
        pairs.append({"a": row["Column 1"], "b": row["Column 2"], "metric": row["Metric"],
                      "score": _score(row["Score"]), "status": status, "rules": linked.get(key, [])})
    by_status: dict[str, list[float]] = {}
    for p in pairs:
        if p["score"] is not None:
            by_status.setdefault(p["status"], []).append(p["score"])
    return {"period": period, "rows": rows,
            "score": _score(figures["score"]),
            "properties": {r["Property"]: _score(r["Score"]) for r in figures["properties"]},
            "column_shapes": [{"variable": r["Column"], "metric": r["Metric"], "score": _score(r["Score"])}
                              for r in figures["shapes"]],
            "pairs": pairs,
            "pair_means": {k: round(float(np.mean(v)), 4) for k, v in sorted(by_status.items())}}
