"""anonymeter's three attacks (singling out, linkability, inference) against the input, and one targeted
inference per swap block with strata (from the block's values, guess its stratum: a block swapped intact carries
a real tuple, and what it was drawn within is what it gives away). The risk is the attack's success on the
input beyond its success on a control: persons held out of the scramble when the run held some out
(``scramble --hold-out``), else a disjoint sample of the input, which the scrambler did read (biased to 0).

anonymeter is imported here, inside the function, so that ``check`` and ``validate`` never load it.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from scrambler.panel import Panel
from scrambler.reports.frames import columns, cross_section, sample_rows, split_rows
from scrambler.reports.jit import cache_anonymeter_kernels
from scrambler.reports.settings import ReportSettings
from scrambler.spec.model import DatasetSpec


def _risk(evaluator: Any) -> dict[str, Any]:
    risk = evaluator.risk()
    results = evaluator.results()
    return {"risk": round(float(risk.value), 4), "ci": [round(float(x), 4) for x in risk.ci],
            "attack_rate": round(float(results.attack_rate.value), 4),
            "baseline_rate": round(float(results.baseline_rate.value), 4),
            "control_rate": round(float(results.control_rate.value), 4) if results.control_rate else None}


def _secret(source: Panel, names: list[str]) -> str | None:
    """The inference target: the categorical variable with most categories among those observed."""
    spec = source.spec
    cats = [n for n in names if spec.variables[n].is_categorical and spec.variables[n].type != "boolean"]
    return max(cats, key=lambda n: len(spec.variables[n].codes), default=None)


def attacks(source: Panel, scrambled: Panel, t: int, settings: ReportSettings,
            held_out: Panel | None = None) -> dict[str, Any]:
    try:
        from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
    except ImportError:
        return {"skipped": "anonymeter is not installed (pip install 'scrambler[privacy]')"}
    cache_anonymeter_kernels()
    rng = np.random.default_rng(settings.seed)
    names = columns(source.spec)
    if held_out is None:
        ori_rows, control_rows = split_rows(source, t, settings.rows, rng)
    else:
        ori_rows, control_rows = sample_rows(source, t, settings.rows, rng), sample_rows(held_out, t, settings.rows,
                                                                                          rng)
    syn_rows = sample_rows(scrambled, t, settings.rows, rng)
    if len(control_rows) < 50 or len(syn_rows) < 50:
        return {"skipped": f"too few rows at this period ({len(control_rows)} control, {len(syn_rows)} scrambled)"}
    ori = cross_section(source, t, ori_rows, names)
    control = cross_section(source if held_out is None else held_out, t, control_rows, names)
    syn = cross_section(scrambled, t, syn_rows, names)
    keep = [c for c in names if ori[c].notna().any()]
    ori, control, syn = ori[keep], control[keep], syn[keep]
    n_attacks = min(settings.n_attacks, len(control))
    out: dict[str, Any] = {"rows": {"input": len(ori), "control": len(control), "scrambled": len(syn)},
                           "n_attacks": n_attacks, "control_held_out": held_out is not None,
                           "control": "held out: persons the scrambler never read" if held_out is not None
                           else "cut from the input the scrambler read (risks biased towards 0)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["singling_out"] = _run(lambda: _singling_out(
            SinglingOutEvaluator, ori, syn, control, min(settings.singling_out_attacks, n_attacks),
            settings.singling_out_attempts, settings.seed))
        half = len(keep) // 2
        out["linkability"] = _run(lambda: _evaluated(LinkabilityEvaluator(
            ori=ori, syn=syn, control=control, n_attacks=n_attacks, aux_cols=(keep[:half], keep[half:]),
            n_neighbors=10), n_jobs=1))
        secret = _secret(source, keep)
        if secret is None:
            out["inference"] = {"skipped": "no categorical variable to infer"}
        else:
            inf = _run(lambda: _evaluated(InferenceEvaluator(
                ori=ori, syn=syn, control=control, aux_cols=[c for c in keep if c != secret], secret=secret,
                n_attacks=n_attacks), n_jobs=1))
            out["inference"] = {"secret": secret, **inf}
        out["block_inference"] = [
            {"block": list(aux), "secret": stratum, **_run(lambda aux=aux, stratum=stratum: _evaluated(
                InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=list(aux), secret=stratum,
                                   n_attacks=n_attacks), n_jobs=1))}
            for aux, stratum in block_targets(source.spec, keep)]
    out["attacks"] = {"singling_out": out["singling_out"].get("attacks", min(settings.singling_out_attacks,
                                                                             n_attacks)),
                      "linkability": n_attacks, "inference": n_attacks}
    return out


def block_targets(spec: DatasetSpec, names: list[str]) -> list[tuple[tuple[str, ...], str]]:
    """(the block's variables, its first categorical stratum) for every swap block of two or more published
    variables swapped within a categorical stratum."""
    from scrambler.sampling.sampler import draw_order
    from scrambler.scramble.plan import make_plan

    out = []
    for block in make_plan(spec, draw_order(spec), np.random.default_rng(0)).blocks:
        aux = tuple(v for v in block.variables if v in names)
        strata = [s for s in block.strata if s in names and spec.variables[s].is_categorical]
        if block.method == "swap" and len(aux) >= 2 and strata:
            out.append((aux, strata[0]))
    return out


def _singling_out(cls: Any, ori: pd.DataFrame, syn: pd.DataFrame, control: pd.DataFrame, n_attacks: int,
                  max_attempts: int, seed: int) -> dict[str, Any]:
    """Multivariate singling out; the query search stops after ``max_attempts`` tries, so fewer queries than
    asked may be found (reported as ``attacks``)."""
    evaluator = cls(ori=ori, syn=syn, control=control, n_attacks=n_attacks, max_attempts=max_attempts, seed=seed)
    # anonymeter logs when its query search found fewer queries than asked; the risk is then computed over the
    # number asked, an underestimate (its own words): keep them beside the figure instead of on stderr
    log = logging.getLogger("anonymeter.evaluators.singling_out_evaluator")
    notes: list[str] = []
    handler = _Collect(notes)
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        evaluator.evaluate(mode="multivariate")
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
    out = {**_risk(evaluator), "mode": "multivariate", "attacks": int(evaluator.results().n_attacks_ori),
           "asked": n_attacks}
    found = [n for n in notes if "could generate only" in n]
    if found:
        out["note"] = found[0]
    return out


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def _evaluated(evaluator: Any, **kwargs: Any) -> dict[str, Any]:
    evaluator.evaluate(**kwargs)
    return _risk(evaluator)


def _run(job: Any) -> dict[str, Any]:
    """An attack that anonymeter cannot run on these data is reported, not fatal."""
    clock = time.perf_counter()
    try:
        out = dict(job())
    except (RuntimeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
        out = {"skipped": f"{type(exc).__name__}: {exc}"}
    return {**out, "seconds": round(time.perf_counter() - clock, 2)}
