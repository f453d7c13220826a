"""Donor choice for swap blocks: input persons with the same stratum values, spread evenly, sticky over time."""

from __future__ import annotations

import numpy as np

from scrambler.panel import Panel
from scrambler.scramble.nearness import sorted_codes, stable_order


def stratum_keys(columns: list[np.ndarray], sizes: list[int], n: int) -> np.ndarray:
    key = np.zeros(n, dtype=np.int64)
    for values, size in zip(columns, sizes, strict=True):
        v = values.astype(np.int64) if values.dtype.kind != "f" else np.nan_to_num(values, nan=-1).astype(np.int64)
        key = key * (size + 2) + (v + 1)
    return key


class DonorPool:
    """Input persons present at a period, grouped by stratum key. Holds only the grouped persons (int32 while
    they fit) and one entry per group: at 7.5 million input persons a pool is ~30 MB, not the ~120 MB the
    sorted keys beside int64 persons took."""

    def __init__(self, keys: np.ndarray, persons: np.ndarray, rng: np.random.Generator) -> None:
        small = np.int32 if len(persons) == 0 or int(persons.max()) < 2**31 else np.int64
        # row numbers in the small type from the start, and every working array let go as soon as it is
        # read: a pool over 7 million persons built ~0.4 GB of them at once, at the draw's peak
        shuffle = rng.permutation(len(persons)).astype(small)
        keys = keys[shuffle]
        # grouped by key, in key order, the shuffled order kept within a group: what a stable argsort of the
        # keys gives, by way of each key's rank among the few distinct ones (hashed, then a radix sort of
        # small integers): 37 pools of a 1,000,000-person input took 3.4 s sorting the 64-bit keys
        self.unique, ranks = sorted_codes(keys)
        del keys
        self.counts = np.bincount(ranks, minlength=len(self.unique))
        self.starts = np.cumsum(self.counts) - self.counts
        order = stable_order(ranks, len(self.unique))
        del ranks
        shuffle = shuffle[order]
        del order
        self.persons = persons.astype(small, copy=False)[shuffle]

    def pick(self, keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One donor per key (-1 where no input person has the key); keys spread over the group evenly."""
        out = np.full(len(keys), -1, dtype=np.int64)
        if len(self.unique) == 0 or len(keys) == 0:
            return out
        pos = np.searchsorted(self.unique, keys)
        pos = np.minimum(pos, len(self.unique) - 1)
        found = self.unique[pos] == keys
        # rank of each row within its key group, in random order -> cycle through the donors of the group
        idx = np.nonzero(found)[0]
        idx = idx[rng.permutation(len(idx))]
        group = pos[idx]
        order = np.argsort(group, kind="stable")
        sorted_group = group[order]
        first_of = np.searchsorted(sorted_group, sorted_group, side="left")
        rank = np.arange(len(order)) - first_of
        offset = rng.integers(0, 1 << 30, size=len(self.unique))
        chosen = self.starts[sorted_group] + (rank + offset[sorted_group]) % self.counts[sorted_group]
        out[idx[order]] = self.persons[chosen]
        return out


def anchors(source: Panel, n: int, rng: np.random.Generator) -> np.ndarray:
    """The anchor donor of each output person: gives the presence pattern and the `keep` variables.

    Input persons are used evenly (every one before any twice) so the output's presence patterns match the
    input's, whatever the output size."""
    reps = -(-n // source.n)
    pool = np.concatenate([rng.permutation(source.n) for _ in range(reps)])
    return pool[:n].astype(np.int32 if source.n < 2**31 else np.int64)  # one per output person: int32 halves it
