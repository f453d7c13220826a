"""The guard's yardstick: how close a real outsider comes to the population. A held-out slice of the input's
own persons is measured with the guard's own notions (within tolerance of another real person-period, a path
within tolerance of fewer than k other real persons', distance to the closest record), beside the scrambled
output's figures, so KSZ reads "no closer to the population than a real person is"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scrambler.panel import Panel
from scrambler.scramble import guard as guard_mod
from scrambler.scramble import nearness

HELD_OUT = 1000  # persons in the held-out slice (at most a tenth of the input)
DCR_ROWS = 300  # person-periods whose closest record is sought, output and held-out alike
DCR_REFERENCE = 5000  # input person-periods searched for the closest record


def _period_counts(index: guard_mod.GuardIndex, panel: Panel, t: int, rows: np.ndarray, source: Panel
                   ) -> np.ndarray:
    """For each row at t, how many input person-periods equal it within tolerance (capped at 2)."""
    if t in index.near:
        exact, near, _ = guard_mod.period_columns(index, panel, t, rows)
        return nearness.match_counts(index.near[t], exact, near, cap=2)
    everyone = np.nonzero(source.present[t])[0]
    known, counts = nearness.unique_counts(guard_mod.row_hashes(source, index.names[t], t, everyone))
    h = guard_mod.row_hashes(panel, index.names[t], t, rows)
    pos = nearness.positions(known, h)
    return np.where(known[pos] == h, np.minimum(counts[pos], 2), 0)


def _differing(index: guard_mod.GuardIndex, a: Panel, rows_a: np.ndarray, b: Panel, rows_b: np.ndarray,
               t: int) -> np.ndarray:
    """(len(rows_a),) the fewest quasi-identifiers on which a row differs (beyond tolerance) from any of
    ``rows_b``: 0 is a near-copy, the guard's notion of equal."""
    best = np.full(len(rows_a), np.iinfo(np.int64).max)
    for start in range(0, len(rows_a), 50):
        part = rows_a[start:start + 50]
        diff = np.zeros((len(part), len(rows_b)), dtype=np.int64)
        for name in index.names[t]:
            x = a.values(name, t)[part][:, None].astype(np.float64)
            y = b.values(name, t)[rows_b][None, :].astype(np.float64)
            tol = index.tolerance.get(name, 0.0)
            same = (np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= tol)
            diff += ~same
        best[start:start + 50] = diff.min(axis=1)
    return best


@dataclass
class HeldOut:
    """The yardstick's input side, measured while the whole input is at hand (a large input handed over to
    the scramble is compacted before the guard's stage: see remnant): the held-out slice's figures, the
    reference persons for the distance to the closest record (a panel of their own) with the held-out
    slice's distances to them, and the generator's state after those draws, from which :func:`figures`
    draws the output's rows (the same rows as when everything was drawn in one go)."""

    figures: dict[str, Any]
    period: int | None  # the middle guarded period (None: no guarded period)
    reference: Panel | None
    d_held: np.ndarray | None  # None: no reference or no held-out person at ``period``
    state: Any  # the bit generator's state (numpy's own mapping)


def held_out(index: guard_mod.GuardIndex, source: Panel, seed: int) -> HeldOut:
    """The held-out slice of ``source`` measured against the whole input (see :class:`HeldOut`)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0575]))
    persons = np.nonzero(source.in_tables())[0]
    held = np.sort(rng.choice(persons, size=min(HELD_OUT, max(1, len(persons) // 10)), replace=False))
    periods = [t for t in range(len(source.periods)) if index.names[t]]
    held_pp = near_pp = 0
    for t in periods:
        rows = held[source.present[t, held]]
        held_pp += len(rows)
        near_pp += int((_period_counts(index, source, t, rows, source) >= 2).sum())  # itself and another
    copies = np.zeros(len(held), dtype=bool)
    for name in index.path:
        counts = guard_mod.path_counts(index, source, name, held, index.k + 1) - 1  # not itself
        observed = (source.present[:, held] & ~np.isnan(source.periodic[name][:, held])).sum(axis=0)
        copies |= (counts > 0) & (counts < index.k) & (observed >= guard_mod.MIN_PATH_VALUES)
    result = {"held_out_persons": len(held),
              "held_out_person_periods_within_tolerance_share": round(near_pp / max(held_pp, 1), 4),
              "held_out_path_copies_share": round(float(copies.sum()) / max(len(held), 1), 4)}
    if not periods:
        return HeldOut(result, None, None, None, rng.bit_generator.state)
    # distance to the closest record at the middle guarded period, against input persons not held out
    t = periods[len(periods) // 2]
    reference = np.setdiff1d(np.nonzero(source.present[t])[0], held)
    reference = np.sort(rng.choice(reference, size=min(DCR_REFERENCE, len(reference)), replace=False))
    outsiders = held[source.present[t, held]][:DCR_ROWS]
    d_held = (_differing(index, source, outsiders, source, reference, t) if len(reference) and len(outsiders)
              else None)
    return HeldOut(result, t, source.subset(reference), d_held, rng.bit_generator.state)


def figures(held: HeldOut, index: guard_mod.GuardIndex, out: Panel, guard_info: dict[str, Any]) -> dict[str, Any]:
    """The output's near-copy figures before the guard (after: 0 by construction) beside a held-out slice's."""
    periods = [t for t in range(len(out.periods)) if index.names[t]]
    out_pp = int(sum(out.present[t].sum() for t in periods))
    out_persons = int(out.present.any(axis=0).sum())
    result: dict[str, Any] = {
        **held.figures,
        "output_person_periods_within_tolerance_share_before": round(
            sum(guard_info.get("collisions_before", {}).values()) / max(out_pp, 1), 4),
        "output_path_copies_share_before": round(guard_info.get("path_copies_before", 0) / max(out_persons, 1), 4),
        "output_within_tolerance_after": 0,
    }
    if held.period is None or held.reference is None:
        return result
    t = held.period
    rng = np.random.default_rng()
    rng.bit_generator.state = held.state
    mine = np.nonzero(out.present[t])[0]
    mine = np.sort(rng.choice(mine, size=min(DCR_ROWS, len(mine)), replace=False))
    if held.d_held is not None and len(mine):
        d_out = _differing(index, out, mine, held.reference, np.arange(held.reference.n), t)
        d_held = held.d_held
        result["closest_record_period"] = str(out.periods[t])
        result["closest_record_differing_quasi_identifiers"] = {
            "output_median": float(np.median(d_out)), "held_out_median": float(np.median(d_held)),
            "output_share_0": round(float((d_out == 0).mean()), 4),
            "held_out_share_0": round(float((d_held == 0).mean()), 4)}
    return result
