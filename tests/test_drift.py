"""The drift figures of the internal report, and the proposals for cells the input does not publish."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrambler.panel import Panel
from scrambler.reports.drift import block_drift, chance, tvd
from scrambler.scramble.proposals import unpublished_from_neighbours
from scrambler.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def test_tvd_of_equal_and_disjoint_shares() -> None:
    assert tvd(np.array([3, 1]), np.array([30, 10])) == pytest.approx(0.0)
    assert tvd(np.array([5, 0]), np.array([0, 7])) == pytest.approx(1.0)
    assert tvd(np.array([1, 1]), np.array([3, 1])) == pytest.approx(0.25)
    assert tvd(np.array([0, 0]), np.array([1, 1])) == 0.0


@pytest.mark.parametrize(("shares", "n"), [([0.5, 0.3, 0.2], 400), ([0.9, 0.05, 0.03, 0.02], 5_000),
                                            ([0.25] * 4, 100)])
def test_chance_is_the_mean_distance_of_random_draws(shares: list[float], n: int) -> None:
    """The yardstick against a simulation: the mean TVD of many multinomial draws of n rows."""
    p = np.array(shares)
    draws = np.random.default_rng(0).multinomial(n, p, size=4_000)
    simulated = float(np.mean([tvd(p * n, d) for d in draws]))
    assert chance(p, n) == pytest.approx(simulated, rel=0.12)


def test_block_drift_reports_excess_over_chance_per_block() -> None:
    source = {("t", "", "a"): np.array([500, 500]), ("t", "_next", "a"): np.array([500, 500])}
    scrambled = {("t", "", "a"): np.array([500, 500]), ("t", "_next", "a"): np.array([900, 100])}
    entries = {e["block"]: e for e in block_drift(source, scrambled)}
    assert entries[""]["excess"] == 0.0
    assert entries["_next"]["tvd"] == pytest.approx(0.4)
    assert entries["_next"]["excess"] == pytest.approx(0.4 - chance(np.array([0.5, 0.5]), 1000), abs=1e-4)


def test_unpublished_cells_take_the_nearest_published_period() -> None:
    """Periods 0 and 2 unpublished, 1 and 3 published: period 0 takes period 1's value; period 2 is a tie
    and takes the earlier (1), or the later (3) for a person absent at 1; a published null stays null; a
    person absent from every published period keeps what it had; published cells are left alone."""
    spec = load_spec(ROOT / "tests" / "fixtures" / "mini")
    var = next(v for v in spec.data_variables if v.is_categorical and not v.is_static)
    assert len(spec.panel.periods) == 4
    n = 4
    panel = Panel.empty(spec, n)
    panel.present[:] = True
    panel.present[1, 2] = False  # person 2: absent at period 1
    panel.present[[1, 3], 3] = False  # person 3: absent at both published periods
    values = np.array([[0, 0, 0, 0], [1, -1, 1, 1], [0, 0, 0, 0], [2, 2, 2, 2]],
                      dtype=panel.periodic[var.name].dtype) % len(var.codes)
    values[1, 1] = -1  # person 1: a published null
    panel.periodic[var.name] = values
    observed = np.ones((4, n), dtype=bool)
    observed[[0, 2]] = False
    panel.observed = {var.name: observed}
    persons = np.arange(n)

    def fill(t: int) -> np.ndarray:
        return unpublished_from_neighbours(panel, var.name, t, persons, values[t].copy())

    assert list(fill(0)) == [values[1, 0], -1, values[3, 2], values[0, 3]]
    assert list(fill(2)) == [values[1, 0], -1, values[3, 2], values[2, 3]]
    assert (fill(1) == values[1]).all() and (fill(3) == values[3]).all()
