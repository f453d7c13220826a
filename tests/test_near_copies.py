"""Depicts no real situation beyond exact equality: perturbation scaled to the variable and moving a person's
trajectory as a whole, a guard on near-copies, rare quasi-identifier combinations. The headline case is a
real public panel (Vella-Verbeek, 545 men x 8 years, shipped by linearmodels)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

pytest.importorskip("linearmodels")

from wage_panel import wage_panel, wage_panel_spec  # noqa: E402

from scrambler.panel import Panel  # noqa: E402
from scrambler.sampling.sampler import draw_order  # noqa: E402
from scrambler.scramble.donors import anchors  # noqa: E402
from scrambler.scramble.plan import make_plan  # noqa: E402
from scrambler.scramble.proposals import MethodProposals  # noqa: E402
from scrambler.scramble.spread import spread  # noqa: E402
from scrambler.spec import DatasetSpec  # noqa: E402


@functools.cache
def _real() -> tuple[DatasetSpec, Panel]:
    spec = wage_panel_spec()
    return spec, wage_panel(spec)


def _noise(name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The default perturbation's noise on ``name`` at the first two periods, for persons present in both."""
    spec, real = _real()
    rng = np.random.default_rng(3)
    plan = make_plan(spec, draw_order(spec), rng)
    anchor = anchors(real, real.n, rng)
    proposals = MethodProposals(spec, real, plan, anchor, rng)
    rows = np.nonzero(real.present[0, anchor] & real.present[1, anchor])[0]
    noise = []
    for t in (0, 1):
        proposed = proposals(name, t, rows, real.frame(t, anchor[rows]), rng)
        assert proposed is not None
        noise.append(proposed[0] - real.periodic[name][t, anchor[rows]])
    return noise[0], noise[1], spread(real, name)


def test_default_perturbation_is_scaled_to_the_variable() -> None:
    # hours worked spread over hundreds: a fixed +-3 would leave every path within 1% of its donor's
    first, _, scale = _noise("hours")
    assert scale > 100
    assert np.std(first) > 0.1 * scale
    assert np.abs(first).max() <= 0.5 * scale + 1  # the largest shift is half a robust standard deviation
    # a log wage spreads over less than one unit: a fixed +-0.1 would be a fifth of its spread
    first, _, scale = _noise("lwage")
    assert np.abs(first).max() <= 0.5 * scale + 1e-9
    assert np.std(first) > 0.1 * scale


def test_perturbation_moves_the_trajectory_as_a_whole() -> None:
    first, second, _ = _noise("hours")
    assert np.corrcoef(first, second)[0, 1] > 0.8  # independent noise per period would correlate ~0
    # year-to-year change gains far less noise than the level
    assert np.std(second - first) < 0.6 * np.std(first)
