"""Cross-sections of a panel as pandas frames (one row per present person at one period), for the sampled
fidelity and privacy checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scrambler.panel import Panel
from scrambler.spec.model import DatasetSpec


def report_period(spec: DatasetSpec) -> int:
    """Index of the period the cross-section checks use: the first table period."""
    first = min(p for table in spec.tables for p in table.periods)
    return spec.panel.periods.index(first)


def columns(spec: DatasetSpec) -> list[str]:
    """Published data variables, in spec order."""
    return [v.name for v in spec.published_variables]


def cross_section(panel: Panel, t: int, rows: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Codes as strings (None = null), numbers and time values as floats (NaN = null)."""
    data: dict[str, pd.Series] = {}
    for name in names:
        var = panel.spec.variables[name]
        values = panel.values(name, t)[rows]
        if var.is_categorical:
            codes = np.array([*var.codes, None], dtype=object)
            data[name] = pd.Series(codes[np.where(values < 0, len(var.codes), values)], dtype=object)
        else:
            data[name] = pd.Series(values.astype(np.float64))
    return pd.DataFrame(data)


def sample_rows(panel: Panel, t: int, size: int, rng: np.random.Generator) -> np.ndarray:
    rows = np.nonzero(panel.present[t])[0]
    if len(rows) > size:
        rows = np.sort(rng.choice(rows, size=size, replace=False))
    return rows


def split_rows(panel: Panel, t: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint samples of present persons (attacked input, control), each at most ``size`` rows."""
    rows = rng.permutation(np.nonzero(panel.present[t])[0])
    half = min(size, len(rows) // 2)
    return np.sort(rows[:half]), np.sort(rows[half:2 * half])
