"""The near index's dense regions: rows whose candidate runs the two pivot bins do not narrow (most persons
full-time in both pivot periods, varying in the others) are counted through a k-d tree of their exact group's
stored rows, built once per group and kept on the index (``NearIndex.trees``). Comparing such a row with every
candidate of its runs grew with the square of the input."""

from __future__ import annotations

from typing import Any

import numpy as np


def tree_counts(index: Any, values: np.ndarray, group: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """How many input rows (weighted) lie within tolerance of each query row ``rows`` on every coordinate, all
    of its exact group searched (``index``: a nearness.NearIndex, not imported: that module imports this
    one): a k-d tree of the group's stored rows scaled by the tolerances gives every row within a box a hair
    wider than the tolerance (the scaling may round), each then compared exactly as nearness._count
    compares, so the count is the one a full comparison gives."""
    from scipy.spatial import cKDTree  # 0.2 s to import: only a run with dense paths needs it

    assert index.row_group is not None  # set by build() whenever there are near coordinates
    counts = np.zeros(len(rows), dtype=np.int64)
    scale = 1.0 / index.tolerance
    by_group = np.argsort(group[rows], kind="stable")
    gids, starts = np.unique(group[rows][by_group], return_index=True)
    for gid, ours in zip(gids.tolist(), np.split(by_group, starts[1:]), strict=True):
        lo, hi = np.searchsorted(index.row_group, [gid, gid + 1])
        if gid not in index.trees:
            index.trees[gid] = cKDTree((index.values[:, lo:hi] * scale[:, None]).T)
        query = (values[:, rows[ours]] * scale[:, None]).T
        # a margin for the rounding of the scaled values (relative 2**-52 of their largest magnitude)
        margin = 1e-9 + 4 * np.finfo(float).eps * float(max(np.abs(query).max(initial=0.0),
                                                           np.abs(index.trees[gid].data).max(initial=0.0)))
        found = index.trees[gid].query_ball_point(query, r=1.0 + margin, p=np.inf, return_sorted=False)
        sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        if not sizes.any():
            continue
        q = np.repeat(np.arange(len(ours)), sizes)
        cand = lo + np.concatenate([np.asarray(f, dtype=np.int64) for f in found if len(f)])
        keep = (np.abs(values[:, rows[ours][q]] - index.values[:, cand]) <= index.tolerance[:, None]).all(axis=0)
        weight = np.ones(len(cand)) if index.weight is None else index.weight[cand]
        counts[ours] = np.bincount(q[keep], weights=weight[keep], minlength=len(ours)).astype(np.int64)
    return counts
