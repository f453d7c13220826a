"""Drift: how far each categorical variable's distribution in the scrambled data moved from the input's, per
published table block, beside the drift a random draw of as many rows from the input shows by chance.

Total variation distance (half the sum of absolute differences of the category shares, nulls left out): 0 when
the shares are equal, 1 when they share nothing. Coverage adds a few rows of rare categories on purpose (k per
category), which the figure includes; anything well beyond chance is something the scrambling pulled apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.coverage import BlockKey

# excess over chance a variable may show before the report marks it (issue: "TVD <= 0.02 per variable and
# table block, beyond what coverage must add")
TOLERATED = 0.02


def tvd(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between two count vectors (0 when either is empty)."""
    sa, sb = float(a.sum()), float(b.sum())
    if sa == 0 or sb == 0:
        return 0.0
    return float(0.5 * np.abs(a / sa - b / sb).sum())


def chance(shares: np.ndarray, n: int) -> float:
    """Expected TVD between shares ``p`` and the shares of ``n`` rows drawn from them: per category the mean
    absolute deviation of a binomial share, sqrt(2 p (1 - p) / (pi n)) in the normal approximation, halved and
    summed."""
    if n == 0:
        return 0.0
    return float(0.5 * np.sqrt(2 * shares * (1 - shares) / (np.pi * n)).sum())


def block_drift(source_counts: dict[BlockKey, np.ndarray], scrambled_counts: dict[BlockKey, np.ndarray]
                ) -> list[dict[str, Any]]:
    """One entry per (table, block, variable) both hold: tvd, chance, excess over chance."""
    out = []
    for key, a in source_counts.items():
        b = scrambled_counts.get(key)
        if b is None or a.sum() == 0 or b.sum() == 0:
            continue
        d, c = tvd(a, b), chance(a / a.sum(), int(b.sum()))
        out.append({"table": key[0], "block": key[1], "variable": key[2], "tvd": round(d, 4),
                    "chance": round(c, 4), "excess": round(max(d - c, 0.0), 4)})
    return out


def drift(source_counts: dict[BlockKey, np.ndarray], scrambled_counts: dict[BlockKey, np.ndarray]
          ) -> dict[str, Any]:
    """Per variable its worst block (largest excess over chance), and the worst of all, from the block counts
    (``coverage.block_counts``) of the input and of the scrambled data."""
    blocks = block_drift(source_counts, scrambled_counts)
    worst: dict[str, dict[str, Any]] = {}
    for entry in blocks:
        if entry["variable"] not in worst or entry["excess"] > worst[entry["variable"]]["excess"]:
            worst[entry["variable"]] = entry
    ranked = sorted(worst.values(), key=lambda e: -e["excess"])
    return {"tolerated_excess": TOLERATED, "variables": ranked,
            "over": [e["variable"] for e in ranked if e["excess"] > TOLERATED]}
