"""Privacy figures computed without extra libraries: a fresh recount of exact matches and rare-combination
reproductions over every person-period, and the distance to the closest input record on a sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scrambler.panel import Panel, is_null
from scrambler.scramble import guard, nearness
from scrambler.spec.time import format_period


def quasi_identifiers(panel: Panel) -> list[str]:
    """The quasi-identifiers the guard compares (its hashes are what the recount may be handed)."""
    return guard.qi_variables(panel.spec)


def recount(source: Panel, scrambled: Panel,
            known: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None) -> dict[str, Any]:
    """Per published period: scrambled person-periods equal to an input person-period on the quasi-identifiers
    the guard compares (:func:`scrambler.scramble.guard.period_variables`), and those equal to an input
    combination held by fewer than the guard's k persons. ``known``: per period, the input's sorted distinct
    hashes of those and whether fewer than k hold each, where the scramble's guard has them (its index hashes
    the same person-periods the same way); else hashed and counted here."""
    k = source.spec.scramble.guard_k
    grain = source.spec.panel.grain
    qi = quasi_identifiers(source)
    exact: dict[str, int] = {}
    rare: dict[str, int] = {}
    for t, period in enumerate(source.periods):
        names = guard.period_variables(source, qi, t)
        rows_in = np.nonzero(source.present[t])[0]
        rows_out = np.nonzero(scrambled.present[t])[0]
        label = format_period(period, grain)
        if not names:  # no own-year block published at this period: nothing to match
            continue
        if len(rows_in) == 0 or len(rows_out) == 0:
            exact[label] = rare[label] = 0
            continue
        if known is not None and t in known:
            hashes, few = known[t]
        else:
            hashes, counts = np.unique(guard.row_hashes(source, names, t, rows_in), return_counts=True)
            few = counts < k
        h = guard.row_hashes(scrambled, names, t, rows_out)
        pos = nearness.positions(hashes, h)
        hit = hashes[pos] == h
        exact[label] = int(hit.sum())
        rare[label] = int((hit & few[pos]).sum())
    return {"quasi_identifiers": qi, "k": k, "exact_matches": exact, "rare_reproductions": rare,
            "total_exact": sum(exact.values()), "total_rare": sum(rare.values())}


def _encode(panel: Panel, names: list[str], t: int, rows: np.ndarray) -> np.ndarray:
    """(rows, variables) float matrix; null is its own value so that null == null counts as equal."""
    cols = []
    for name in names:
        raw = panel.values(name, t)[rows]
        cols.append(np.where(is_null(raw), -1e300, np.round(raw.astype(np.float64), 6)))
    return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0))


def nearest_hamming(a: np.ndarray, b: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Per row of ``a``, the fewest columns in which it differs from any row of ``b`` (every column when ``b``
    is empty). Equal means ``==`` on the encoded values (see :func:`_encode`).

    Each column's values on both sides are numbered once (one small integer per distinct value) and held
    column by column, so that one pass compares a contiguous row of bytes: comparing the float matrix's
    strided columns took 2.1 s of the demo's 9.7 s report, this 0.1 s."""
    columns = a.shape[1]
    best = np.full(len(a), columns, dtype=np.int64)
    if not len(b) or not len(a):
        return best
    codes = np.empty((columns, len(a) + len(b)), dtype=np.int64)
    for j in range(columns):
        codes[j] = np.unique(np.concatenate([a[:, j], b[:, j]]), return_inverse=True)[1]
    kind = next(k for k in (np.int8, np.int16, np.int32, np.int64) if codes.max(initial=0) <= np.iinfo(k).max)
    codes = codes.astype(kind)
    mine, theirs = codes[:, :len(a)], codes[:, len(a):]
    count = np.uint8 if columns <= np.iinfo(np.uint8).max else np.uint32
    diff = np.empty((min(chunk, len(a)), len(b)), dtype=count)
    differs = np.empty(diff.shape, dtype=bool)
    for start in range(0, len(a), chunk):
        rows = min(chunk, len(a) - start)
        d, x = diff[:rows], differs[:rows]
        d[:] = 0
        for j in range(columns):
            np.not_equal(mine[j, start:start + rows, None], theirs[j][None, :], out=x)
            np.add(d, x, out=d)  # a boolean adds as 0 or 1
        best[start:start + rows] = d.min(axis=1)
    return best


def closest_distance(source: Panel, scrambled: Panel, t: int, rows: int, reference: int,
                     rng: np.random.Generator) -> dict[str, Any]:
    """Hamming distance (number of quasi-identifiers that differ) from sampled scrambled person-periods at
    period t to the closest of (a sample of) the input's person-periods at t."""
    names = guard.period_variables(source, quasi_identifiers(source), t)
    out_rows = np.nonzero(scrambled.present[t])[0]
    in_rows = np.nonzero(source.present[t])[0]
    if len(out_rows) > rows:
        out_rows = np.sort(rng.choice(out_rows, size=rows, replace=False))
    if len(in_rows) > reference:
        in_rows = np.sort(rng.choice(in_rows, size=reference, replace=False))
    a = _encode(scrambled, names, t, out_rows)
    b = _encode(source, names, t, in_rows)
    best = nearest_hamming(a, b)
    hist = np.bincount(best, minlength=len(names) + 1)
    return {"period": format_period(source.periods[t], source.spec.panel.grain), "variables": len(names),
            "rows": int(len(a)), "reference_rows": int(len(b)), "reference_total": int(source.present[t].sum()),
            "histogram": [int(x) for x in hist], "min": int(best.min()) if len(best) else None,
            "median": float(np.median(best)) if len(best) else None,
            "share_within_1": float((best <= 1).mean()) if len(best) else None}
