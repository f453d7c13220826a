"""The Vella-Verbeek wage panel (545 men, 1980-1987) as a Panel of the wage_panel fixture spec.

The data are public and ship with linearmodels (a test-time dependency, not vendored): a real panel the engine
did not grow up with, the headline case of the near-copies issue."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scrambler.panel import Panel
from scrambler.spec import DatasetSpec, load_spec

WAGE_PANEL = Path(__file__).resolve().parent / "fixtures" / "wage_panel"


def wage_panel_spec() -> DatasetSpec:
    return load_spec(WAGE_PANEL)


def wage_panel(spec: DatasetSpec) -> Panel:
    from linearmodels.datasets import wage_panel as data  # type: ignore[import-untyped]

    frame = data.load().sort_values(["nr", "year"])
    ids = np.unique(frame["nr"].to_numpy())
    panel = Panel.empty(spec, len(ids))
    panel.ids = ids.astype(np.int64)
    col = np.searchsorted(ids, frame["nr"].to_numpy())
    row = frame["year"].to_numpy() - spec.panel.start
    panel.present[row, col] = True
    for name in ("black", "hisp", "educ"):
        panel.static[name][col] = frame[name].to_numpy()
    for name in ("exper", "hours", "married", "union", "lwage"):
        panel.periodic[name][row, col] = frame[name].to_numpy()
    panel.periodic["occupation"][row, col] = frame["occupation"].to_numpy() - 1  # codes 1..9 -> index 0..8
    return panel
