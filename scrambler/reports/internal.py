"""The internal report (KSZ engineers; never leaves KSZ): certificate, coverage with input counts, privacy
figures and attacks, fidelity, provenance."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from scrambler.check import CheckReport
from scrambler.coverage import block_counts, variable_totals
from scrambler.panel import Panel
from scrambler.reports.categories import coverage
from scrambler.reports.certificate import certificate
from scrambler.reports.drift import drift
from scrambler.reports.fidelity import Pending, start_fidelity
from scrambler.reports.frames import report_period
from scrambler.reports.privacy import closest_distance, recount
from scrambler.reports.relations import relations
from scrambler.reports.settings import ReportSettings
from scrambler.scramble.pipeline import LABEL, InputCounts


def build_internal(scrambled: Panel, source: Panel, report: CheckReport, manifest: dict[str, Any],
                   sample: Panel | None = None, settings: ReportSettings | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   control: Panel | None = None, counted: InputCounts | None = None) -> dict[str, Any]:
    """The internal report's content. ``counted``: what the scramble counted of ``source`` (its block counts
    and the guard's hashes of its person-periods), where the caller has them: ~12 s at 7,500,000 persons not
    spent twice."""
    settings = settings or ReportSettings()
    spec = scrambled.spec
    timings: dict[str, float] = {}
    parts = 2 + settings.privacy_attacks + settings.fidelity
    done = 0

    def step(name: str) -> None:  # the anonymeter attacks and sdmetrics take most of the time: say which runs
        nonlocal done
        if progress:
            progress(name, done, parts)
        done += 1

    t = report_period(spec)
    pending: Pending | dict[str, Any] | None = None
    if settings.fidelity:  # started first: sdmetrics starts up and runs in a worker process while the
        # coverage, distances and attacks run here
        pending = start_fidelity(source, scrambled, t, settings, parallel=settings.privacy_attacks)
    step("coverage")
    clock = time.perf_counter()
    datasets = {"input": source, **({"sample": sample} if sample is not None else {}), "scrambled": scrambled}
    # each dataset's block counts once: the coverage tables sum them per variable, the drift compares blocks
    blocks = {name: counted.blocks if name == "input" and counted is not None else block_counts(panel)
              for name, panel in datasets.items()}
    cov = coverage(spec, {name: variable_totals(b) for name, b in blocks.items()})
    moved = drift(blocks["input"], blocks["scrambled"])
    timings["coverage"] = time.perf_counter() - clock
    step("privacy recount and distances")
    clock = time.perf_counter()
    privacy: dict[str, Any] = {"guard": manifest.get("guard", {}),
                               "recount": recount(source, scrambled, counted.known if counted else None),
                               "distance": closest_distance(source, scrambled, t, settings.distance_rows,
                                                            settings.distance_reference,
                                                            np.random.default_rng(settings.seed + 2))}
    timings["privacy"] = time.perf_counter() - clock
    if settings.privacy_attacks:
        from scrambler.reports.attacks import attacks

        step("anonymeter attacks")
        clock = time.perf_counter()
        privacy["anonymeter"] = attacks(source, scrambled, t, settings, control)
        timings["anonymeter"] = time.perf_counter() - clock
    else:
        privacy["anonymeter"] = {"skipped": "switched off in the report settings"}
    fid: dict[str, Any] = {"skipped": "switched off in the report settings"}
    if settings.fidelity:
        step("fidelity (sdmetrics)")
        clock = time.perf_counter()
        fid = pending.result() if isinstance(pending, Pending) else pending or fid
        timings["fidelity (waited for, after the attacks)"] = time.perf_counter() - clock
    return {"kind": "internal", "audience": "KSZ engineers only: holds input counts; never hand it out",
            "label": LABEL, "dataset": spec.name, "title": spec.title, "deliberation": spec.deliberation,
            "settings": {"small_cell": settings.small_cell, "rows": settings.rows,
                         "n_attacks": settings.n_attacks, "singling_out_attacks": settings.singling_out_attacks,
                         "distance_rows": settings.distance_rows,
                         "distance_reference": settings.distance_reference, "seed": settings.seed},
            "datasets": {name: _size(p, counted if name == "input" else None) for name, p in datasets.items()},
            "certificate": certificate(report),
            "coverage": {"k": spec.scramble.coverage_k, "series": list(datasets), "variables": cov},
            "drift": moved,
            "privacy": privacy, "fidelity": fid, "relations": relations(spec),
            "provenance": manifest, "timings_s": {k: round(v, 2) for k, v in timings.items()}}


def _size(panel: Panel, counted: InputCounts | None) -> dict[str, int]:
    """Persons and person-periods: the whole input's as the scramble counted them, where the reports read a
    sample of it (reports.write.input_for_reports)."""
    if counted is not None and counted.persons is not None and counted.person_periods is not None:
        return {"persons": counted.persons, "person_periods": counted.person_periods}
    return {"persons": int(panel.n), "person_periods": int(panel.present.sum())}
