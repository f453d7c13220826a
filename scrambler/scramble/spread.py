"""How far a numeric variable's values spread in the input: the scale of the default perturbation and of the
guard's default tolerance, so that neither depends on the variable's unit (+-3 means nothing on a wage in
the thousands and everything on a count of children)."""

from __future__ import annotations

import numpy as np

from scrambler.panel import Panel

# Time variables (a year, a month, a quarter) move in calendar steps, not in a share of their spread: a
# birth year spread over 60 years would otherwise shift by a decade.
PERTURB_SHARE = 0.5  # default perturbation: the largest shift, in robust standard deviations
TOLERANCE_SHARE = 0.05  # default guard tolerance: values this many robust standard deviations apart are "equal"
SAMPLE = 1_000_000  # values read to estimate a spread: quantiles of a million values are exact enough


def spread(panel: Panel, name: str) -> float:
    """A robust standard deviation of the variable over every present person-period (or person, for a
    static): the interquartile range / 1.349, the standard deviation where most values are equal (IQR 0),
    0 for a constant or empty variable."""
    return spread_of(spread_values(panel, name))


def spread_values(panel: Panel, name: str) -> np.ndarray:
    """The values a spread is estimated from: every present non-null value, at most about SAMPLE of them.
    Values of parts of an input (the dask engine's partitions), concatenated in order, estimate the spread of
    the whole through :func:`spread_of`; one part gives exactly :func:`spread`."""
    if name in panel.static:
        values = panel.static[name][panel.present.any(axis=0)]
    else:
        values = panel.periodic[name][panel.present]
    values = values[~np.isnan(values)]
    return _thin(values)


def _thin(values: np.ndarray) -> np.ndarray:
    if len(values) > SAMPLE:  # a fixed stride, not a random draw: the same input always gives the same scale
        values = values[:: len(values) // SAMPLE]
    return values


def spread_of(values: np.ndarray) -> float:
    """The robust standard deviation of ``values`` (see :func:`spread`)."""
    values = _thin(values)
    if len(values) < 2:
        return 0.0
    q1, q3 = np.quantile(values, [0.25, 0.75])
    robust = float(q3 - q1) / 1.349
    return robust if robust > 0 else float(np.std(values))
