"""What the sampler draws from when it keeps no proposal: weights for codes, distributions for numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class VariableModel:
    """Draw model of one variable.

    Categorical: ``weights`` over codes + null (K+1), optionally ``conditional`` = (given variable, matrix of
    shape (K_given+1, K+1)) replacing the weights row by row. Numeric: ``null_share`` and a distribution:
    ``quantiles`` (values at evenly spaced probabilities, absolute) or ``relative`` (positions inside each
    row's allowed interval, 0..1), else uniform inside the interval. ``stay``: probability that a present
    person keeps last period's value (a proposal the sampler keeps when still allowed).
    """

    weights: np.ndarray | None = None
    conditional: tuple[str, np.ndarray] | None = None
    null_share: float = 0.0
    quantiles: np.ndarray | None = None
    relative: np.ndarray | None = None
    stay: float = 0.0

    def code_weights(self, frame_given: np.ndarray | None, n: int) -> np.ndarray:
        assert self.weights is not None
        if self.conditional is not None and frame_given is not None:
            return self.conditional[1][frame_given].astype(np.float32)
        return np.broadcast_to(self.weights.astype(np.float32), (n, len(self.weights)))


def draw_numbers(model: VariableModel, low: np.ndarray, high: np.ndarray, rng: np.random.Generator,
                 uniform: bool = False) -> np.ndarray:
    """Values inside [low, high] per row, from the model's distribution truncated to the interval."""
    n = len(low)
    u = rng.random(n)
    out = np.empty(n)
    finite = np.isfinite(low) & np.isfinite(high)
    if model.quantiles is not None and not uniform:
        q = model.quantiles
        probs = np.linspace(0.0, 1.0, len(q))
        f_lo = np.interp(np.clip(low, q[0], q[-1]), q, probs)
        f_hi = np.interp(np.clip(high, q[0], q[-1]), q, probs)
        values = np.interp(f_lo + u * (f_hi - f_lo), probs, q)
        out = values
        # the interval lies outside the distribution's support: uniform inside the interval instead
        outside = (high < q[0]) | (low > q[-1])
        if outside.any():
            out[outside] = np.where(finite[outside], low[outside] + u[outside] * (high[outside] - low[outside]),
                                    np.where(np.isfinite(low[outside]), low[outside], high[outside]))
        return np.clip(out, low, high)
    if model.relative is not None and not uniform:
        r = model.relative
        probs = np.linspace(0.0, 1.0, len(r))
        pos = np.interp(u, probs, r)
        with np.errstate(invalid="ignore"):
            out = np.where(finite, low + pos * (high - low), np.nan)
    else:
        with np.errstate(invalid="ignore"):
            out = np.where(finite, low + u * (high - low), np.nan)
    # half-open or open intervals: stay near the finite bound
    only_low = np.isfinite(low) & ~np.isfinite(high)
    only_high = ~np.isfinite(low) & np.isfinite(high)
    out[only_low] = low[only_low] + u[only_low] * 10
    out[only_high] = high[only_high] - u[only_high] * 10
    out[~np.isfinite(low) & ~np.isfinite(high)] = 0.0
    return out


def pick_columns(weights: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One column per row, with probability proportional to its weight; (picks, rows with no weight).

    u is drawn in [0, total) against the cumulative sum's own total (a separately summed float32 total can
    exceed it by rounding), and the pick is the first column whose cumulative weight exceeds u: a column of
    weight 0 - e.g. null for a required variable - is never picked.
    """
    cum = np.cumsum(weights, axis=1, dtype=np.float64)
    total = cum[:, -1]
    dead = total <= 0
    u = np.minimum(rng.random(len(weights)) * total, np.nextafter(total, 0))
    pick = (cum <= u[:, None]).sum(axis=1)
    return np.minimum(pick, weights.shape[1] - 1), dead
