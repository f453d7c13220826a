"""The scramble's output panel is allocated unfilled and each period is filled with nulls as its draw starts
(Panel.empty(unfilled=True), start_period): the later periods' pages are not committed during the draw. Every
read of a period not yet started must see null, as in a panel filled with nulls up front; here the unfilled
arrays hold a non-null pattern, so a read that slipped past the horizon would show it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from scrambler.panel import Panel
from scrambler.population import generate_population
from scrambler.sampling.rules import neighbour_sets
from scrambler.scramble import scramble
from scrambler.spec import DatasetSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ["arbeidsreserve-24-130", "incapacity-barometer-18-088"]


@cache
def _spec(name: str) -> DatasetSpec:
    return load_spec(ROOT / "constraints" / name)  # once: 18/088 has 154 periods, each checked below


def _pair(spec_name: str, t: int, n: int = 40) -> tuple[Panel, Panel]:
    """A panel filled with nulls and an unfilled one holding garbage, both given the same values at periods up
    to t (the unfilled one's periods started in order)."""
    spec = _spec(spec_name)
    rng = np.random.default_rng(3)
    filled, unfilled = Panel.empty(spec, n), Panel.empty(spec, n, unfilled=True)
    for values in unfilled.periodic.values():
        values[...] = 1 if values.dtype.kind != "f" else 7.0  # what an unstarted period may hold: not null
    for s in range(t + 1):
        unfilled.start_period(s)
    present = rng.random((len(spec.panel.periods), n)) < 0.8
    filled.present, unfilled.present = present.copy(), present.copy()
    for name, values in filled.periodic.items():
        var = spec.variables[name]
        drawn = (rng.integers(0, len(var.codes), (t + 1, n)) if var.is_categorical
                 else rng.integers(0, 50, (t + 1, n)).astype(values.dtype))
        drawn = np.where(rng.random((t + 1, n)) < 0.2, -1 if var.is_categorical else np.nan, drawn)
        values[: t + 1] = drawn
        unfilled.periodic[name][: t + 1] = drawn
    return filled, unfilled


@pytest.mark.parametrize("spec_name", SPECS)
def test_periods_not_started_read_as_null(spec_name: str) -> None:
    periods = len(_spec(spec_name).panel.periods)
    for t in range(periods - 1):  # the last period has no later one to hide
        filled, unfilled = _pair(spec_name, t)
        rows = np.arange(filled.n)
        for name in filled.periodic:
            for key in (f"next:{name}", f"previous:{name}", name):
                assert np.array_equal(unfilled.frame(t, rows).columns[key], filled.frame(t, rows).columns[key],
                                      equal_nan=True), (t, key)
            for mine, theirs in zip(neighbour_sets(unfilled, name, t, rows), neighbour_sets(filled, name, t, rows),
                                    strict=True):
                for a, b in zip(mine, theirs, strict=True):
                    for x, y in zip(a, b, strict=True):
                        assert np.array_equal(x, y, equal_nan=True), (t, name)
            assert not unfilled.readable(name, t + 1) and unfilled.readable(name, t)


def test_periods_start_in_order_only() -> None:
    spec = load_spec(ROOT / "constraints" / SPECS[0])
    panel = Panel.empty(spec, 5, unfilled=True)
    assert panel.drawn == 0
    with pytest.raises(RuntimeError, match="out of order"):
        panel.start_period(1)
    panel.start_period(0)
    panel.start_period(0, slice(2, 5))  # the second part of a period already started
    assert panel.drawn == 1
    with pytest.raises(RuntimeError, match="filled 1 of"):
        panel.end_first_draw()
    assert all((v[0] < 0).all() if v.dtype.kind != "f" else np.isnan(v[0]).all() for v in panel.periodic.values())


def test_a_scramble_hands_back_a_panel_with_every_period_filled(mini_spec) -> None:  # type: ignore[no-untyped-def]
    out = scramble(mini_spec, generate_population(mini_spec, 300, 4), 120, seed=2).panel
    assert out.drawn is None
    assert all(out.readable(name, t) for name in out.periodic for t in range(len(out.periods)))
