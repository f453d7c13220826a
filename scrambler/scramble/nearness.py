"""Near-equality at scale: which rows of one set lie within a tolerance of some row of another, on every
coordinate, without pairwise distances.

A row is an exact part (categoricals, whole-number values, which coordinates are null: hashed to one 64-bit
key) and near coordinates (numbers with a tolerance). Input rows are sorted by (exact key, bin of a first
pivot coordinate, bin of a second, bin widths >= their tolerance): the input rows that can be within tolerance
of a query row lie in three contiguous runs of the sort - same exact key, first pivot bin within one of the
query's (one run each), second pivot bin within one of the query's - found by binary searches; only those
candidates are compared on every coordinate. The pivots are the coordinates with the most distinct bins, so
runs stay short. Input rows equal on every coordinate are stored once with their count: a
path most persons share (full time in every period) would otherwise make runs of a hundred thousand rows that
every query near it compares one by one. Cost: O(n log n) to build, O(log n + candidates) per query row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scrambler.panel import differs
from scrambler.scramble import neartree

_MIX = np.uint64(0x9E3779B97F4A7C15)
_SEED = np.uint64(0xCBF29CE484222325)
_SPREAD = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)
_PAIR_CHUNK = 4_000_000  # candidate pairs compared at once: bounds the memory of one comparison
_FIRST = 256  # candidates of a row compared before the rest (see match_counts)
_SORTED_SEARCH = 65_536  # needles and haystack both this long: the needles are sorted first (see positions)
_SAMPLE = 4096  # values unique_counts looks at to choose between hashing and sorting
HASH_ROWS = 1 << 16  # rows hashed at once (see hash_columns): 64k-128k were fastest, 4k as slow as none


def hash_columns(columns: Iterable[np.ndarray], n: int, rows: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit hash of each row's values over ``columns`` (order-sensitive; NaN hashes as one value; a whole
    number hashes alike in any integer dtype or as a bool); with ``rows``, of those rows of the columns only.

    Rows are hashed in blocks of HASH_ROWS, every column of a block before the next block, in three scratch
    arrays that stay in the CPU's cache: column by column over all rows, each of the seven steps went through
    memory (hashing 55 columns of 7.5 million rows: 1.33 s, 0.86 s in blocks, gathering ``rows`` included).
    The hashes are the same either way."""
    columns = list(columns)  # each block reads every column again: a generator would be spent after one
    out = np.empty(n, dtype=np.uint64)
    size = min(HASH_ROWS, max(n, 1))
    h = np.empty(size, dtype=np.uint64)
    v = np.empty(size, dtype=np.uint64)
    shifted = np.empty(size, dtype=np.uint64)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n, size):
            stop = min(start + size, n)
            hb, vb, sb = h[:stop - start], v[:stop - start], shifted[:stop - start]
            hb.fill(_SEED)
            at = slice(start, stop) if rows is None else rows[start:stop]
            for i, column in enumerate(columns):
                values = column[at]
                if values.dtype.kind == "f":
                    as_float = vb.view(np.float64)
                    np.round(values, 6, out=as_float)
                    as_float[np.isnan(values)] = -1e300
                else:
                    vb[...] = values  # negatives wrap to uint64 as through int64
                vb += np.uint64(i + 1)
                vb *= _MIX
                hb ^= vb
                np.right_shift(hb, _SHIFT, out=sb)
                hb ^= sb
                hb *= _SPREAD
            out[start:stop] = hb
    return out


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_counts=True), by hashing instead of sorting every value: the rows of a
    million-person input hold few distinct tuples, and sorting only those is 5-10 times faster than sorting
    the rows (the rare tuples of the swap blocks and the guard's keys took 4 s of a 1,000,000-person run)."""
    if not _few_distinct(values):
        keys, counts = np.unique(values, return_counts=True)
        return keys, counts
    keys, ranks = sorted_codes(values)
    return keys, np.bincount(ranks, minlength=len(keys))


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True), by hashing where few values are distinct (see unique_counts):
    the exact keys of a million persons' paths are a hundred groups, sorted in 0.24 s, hashed in 0.03 s."""
    if not _few_distinct(values):
        return np.unique(values, return_inverse=True)  # type: ignore[no-any-return]
    return sorted_codes(values)


def positions(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``np.searchsorted(haystack, needles)`` clipped to the last position (so ``haystack[pos] == needles``
    tells membership), the needles searched in sorted order when both are large: numpy starts a search where
    the last ended, so sorted needles walk the haystack forward, where random ones (hashes) miss the cache at
    every step (7 million hashes in 30 million: 17 s in their own order, 2.7 s sorted first, the sort included)."""
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=np.intp)
    if len(needles) < _SORTED_SEARCH or len(haystack) < _SORTED_SEARCH:
        return np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    order = np.argsort(needles)
    pos = np.empty(len(needles), dtype=np.intp)
    pos[order] = np.minimum(np.searchsorted(haystack, needles[order]), len(haystack) - 1)
    return pos


def _few_distinct(values: np.ndarray) -> bool:
    """Whether hashing pays over sorting: with many distinct values (one per person-period), hashing millions
    of them is 2-3 times slower than np.unique's sort (7.5 million: 3.0 s against 1.0 s). A sample tells."""
    if len(values) <= _SAMPLE * 4:
        return True
    sample = values[:: len(values) // _SAMPLE]
    return len(pd.unique(sample)) <= len(sample) // 4


def count_keys(key: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys, their counts) of non-negative keys below the product of ``sizes`` (mixed-radix tuples):
    bincount while that key space is small, else unique_counts (np.unique(axis=0) on a 7-million-row stack
    took minutes). The product in Python's integers: a wide tuple's would overflow int64."""
    total = math.prod(sizes)
    if total <= 4 * len(key) + 1_000_000:
        counts = np.bincount(key, minlength=total)
        keys = np.nonzero(counts)[0]
        return keys, counts[keys]
    return unique_counts(key)


def stable_order(keys: np.ndarray, upper: int) -> np.ndarray:
    """np.argsort(keys, kind="stable") of non-negative integers below ``upper``: as 16-bit integers where they
    fit, which numpy sorts by radix (the same order, about 5 times faster on a million keys)."""
    return np.argsort(keys.astype(np.int16 if upper <= 2**15 else np.int64, copy=False), kind="stable")


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) by hashing: the distinct values sorted, and each value's index
    among them. Only the distinct values are sorted, so it pays when they are few (see unique_counts)."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[codes]


@dataclass
class NearIndex:
    groups: np.ndarray  # sorted unique exact keys of the input rows
    keys: np.ndarray  # sorted: group, then the bin of each pivot coordinate, as one mixed-radix integer
    values: np.ndarray  # (m, rows) near coordinates in key order, NaN as 0 (nulls are in the exact key)
    tolerance: np.ndarray  # (m,)
    pivots: tuple[int, ...]  # the binned coordinates, the first one most significant
    widths: tuple[float, ...]  # their bin widths (each >= its tolerance)
    lows: tuple[int, ...]  # their smallest bin
    spans: tuple[int, ...]  # their bin offsets 0..span-1 (the rows' own are 1..span-2)
    weight: np.ndarray | None = None  # how many input rows each stored row stands for (None: one each)
    row_hash: np.ndarray | None = None  # sorted hashes of the stored rows (group and every coordinate)
    row_of_hash: np.ndarray | None = None  # the stored row of each of those hashes
    row_group: np.ndarray | None = None  # each stored row's exact group
    #: a k-d tree of each group's stored rows, built when a query first needs it (see _tree_counts)
    trees: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)


def _exact_key(exact: np.ndarray, near: np.ndarray) -> np.ndarray:
    """The exact key with the null pattern of the near coordinates folded in (a null equals only a null)."""
    if near.shape[0] == 0:
        return exact
    return hash_columns([exact.view(np.int64), *np.isnan(near)], len(exact))


def _bins(values: np.ndarray, width: float) -> np.ndarray:
    return np.floor(np.nan_to_num(values, nan=0.0) / width).astype(np.int64)


def _distinct(values: np.ndarray) -> int:
    """How many distinct integers: a bincount when their range is small (bins of a tolerance usually are),
    else a sort (np.unique over 5 periods of a million persons' paths, five times, took 4 s)."""
    if len(values) == 0:
        return 0
    low, high = int(values.min()), int(values.max())
    if high - low <= 4 * len(values) + 1024:
        return int(np.count_nonzero(np.bincount(values - low)))
    return len(np.unique(values))


def build(exact: np.ndarray, near: np.ndarray, tolerance: np.ndarray) -> NearIndex:
    """Index input rows: ``exact`` (n,) uint64 keys, ``near`` (m, n) numbers, ``tolerance`` (m,) > 0."""
    key = _exact_key(exact, near)
    groups, gid = unique_inverse(key)
    m = near.shape[0]
    if m == 0:
        return NearIndex(groups, np.sort(gid.astype(np.int64)), near, tolerance, (), (), (), ())
    # two pivots, the coordinates with the most distinct bins: with one, a value most rows share at the pivot
    # period (a full-time 1.00) left runs of a thousand candidates per query row (114 million pairs for the
    # FTE paths of 200,000 persons); a second binned coordinate cuts the run to the rows near on both
    distinct = [_distinct(_bins(near[i], float(tolerance[i]))) for i in range(m)]
    pivots = tuple(int(i) for i in np.argsort([-d for d in distinct], kind="stable")[:2])
    # group ids times the bin offsets must fit 62 bits: widen the bins (still >= the tolerance) when they would not
    room = 2**62 // max(len(groups), 1)
    room = room if len(pivots) == 1 else math.isqrt(room)
    keys = gid.astype(np.int64)
    widths, lows, spans = [], [], []
    for p in pivots:
        finite = np.nan_to_num(near[p], nan=0.0)
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
        width = max(float(tolerance[p]), (hi - lo) / max(room - 3, 1))
        bins = _bins(near[p], width)
        low = int(bins.min()) if len(bins) else 0
        span = (int(bins.max()) if len(bins) else 0) - low + 3
        keys = keys * span + (bins - low + 1)
        widths.append(width)
        lows.append(low)
        spans.append(span)
    values = np.nan_to_num(near, nan=0.0) + 0.0  # + 0.0: -0.0 becomes 0.0, equal rows hash alike
    # equal rows stored once with their count, sorted by key, then by every coordinate
    rows, weight = _distinct_rows(keys, values)
    keys, stored = keys[rows], values[:, rows]
    row_group = gid.astype(np.int64)[rows]
    row_hash = hash_columns([row_group, *stored], len(rows))
    by_hash = np.argsort(row_hash, kind="stable")
    # counts, row numbers and group numbers, all at most the input rows, in int32: at 7.5 million input
    # persons a period's index holds ~7 million distinct rows, and these three columns are 21 of its 64 bytes
    small = np.int32 if len(exact) < 2**31 else np.int64
    return NearIndex(groups, keys, stored, tolerance, pivots, tuple(widths), tuple(lows),
                     tuple(spans), weight.astype(small), row_hash[by_hash], by_hash.astype(small),
                     row_group.astype(small))


def _distinct_rows(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first of each set of equal rows (equal key, equal on every coordinate) in the order of
    np.lexsort((*values[::-1], keys)), and how many rows each stands for. The lexsort of every row was most
    of an index build (0.2 of 0.55 s per period of a million persons); here rows are sorted by key alone, and
    only rows whose key another shares are sorted on their coordinates - or, where most do (a hundred path
    groups over a million persons), equal rows are first found by hashing and only the distinct ones sorted."""
    n = len(keys)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    tie = sorted_keys[1:] == sorted_keys[:-1]
    tied = np.zeros(n, dtype=bool)
    tied[1:] |= tie
    tied[:-1] |= tie
    if tied.sum() > n // 2:
        codes, uniques = pd.factorize(hash_columns([keys, *values], n))
        first = np.empty(len(uniques), dtype=np.int64)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)  # the last write wins: each hash's first row
        rep = first[codes]
        if (keys[rep] == keys).all() and (values[:, rep] == values).all():  # no hash collision
            by_row = np.lexsort((*values[::-1][:, first], keys[first]))
            return first[by_row], np.bincount(codes, minlength=len(uniques))[by_row]
        order = np.lexsort((*values[::-1], keys))  # a collision: every row sorted
    elif tie.any():
        at = np.nonzero(tied)[0]  # runs of equal keys, already in key order: sorted within on the coordinates
        sub = order[at]
        order[at] = sub[np.lexsort((*values[::-1][:, sub], keys[sub]))]
    sorted_values = values[:, order]
    first_of = np.ones(n, dtype=bool)
    first_of[1:] = (keys[order[1:]] != keys[order[:-1]]) | (sorted_values[:, 1:] != sorted_values[:, :-1]).any(axis=0)
    starts = np.nonzero(first_of)[0]
    return order[starts], np.diff(np.append(starts, n))


def _exact_counts(index: NearIndex, pos: np.ndarray, found: np.ndarray, values: np.ndarray, counts: np.ndarray,
                  cap: int) -> None:
    """Set ``counts`` to ``cap`` for query rows equal on every coordinate to a stored row that stands for at
    least ``cap`` input rows: they need no search. Most output rows are such common rows (a full-time path,
    everyone's null), and comparing their candidates one by one was most of the guard's path check (1.4 of
    1.5 s for 200,000 persons). Hash hits are confirmed on the values, so a collision cannot skip a row."""
    if index.row_hash is None or index.row_of_hash is None or index.row_group is None or index.weight is None:
        return
    if len(index.row_hash) == 0:
        return
    qh = hash_columns([pos.astype(np.int64), *values], len(pos))
    at = positions(index.row_hash, qh)
    hit = np.nonzero(found & (index.row_hash[at] == qh))[0]
    row = index.row_of_hash[at[hit]]
    same = (index.row_group[row] == pos[hit]) & (index.values[:, row] == values[:, hit]).all(axis=0)
    heavy = same & (index.weight[row] >= cap)
    counts[hit[heavy]] = cap


def match_counts(index: NearIndex, exact: np.ndarray, near: np.ndarray, cap: int = 2) -> np.ndarray:
    """For each query row, how many input rows lie within tolerance on every coordinate (counting stops at
    ``cap``: "none", "one" and "more" are all the guard and its figures need).

    Equal query rows are searched once: the output repeats the common paths and person-periods many times
    over. Rows grouped by hash are confirmed equal to their group's first row; one that is not (a hash
    collision) is searched on its own."""
    n = len(exact)
    if n < 2:
        return _match_counts(index, exact, near, cap)
    codes, uniques = pd.factorize(hash_columns([exact.view(np.int64), *near], n))
    first = np.full(len(uniques), n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    rep = first[codes]
    same = exact[rep] == exact
    if near.shape[0]:
        a, b = near[:, rep], near
        same &= ~differs(a, b).any(axis=0)
    alone = np.nonzero(~same)[0]
    searched = np.concatenate([first, alone])
    found = _match_counts(index, exact[searched], near[:, searched], cap)
    counts = found[: len(first)][codes]
    counts[alone] = found[len(first):]
    return counts


def _match_counts(index: NearIndex, exact: np.ndarray, near: np.ndarray, cap: int) -> np.ndarray:
    n = len(exact)
    counts = np.zeros(n, dtype=np.int64)
    if n == 0 or len(index.groups) == 0:
        return counts
    key = _exact_key(exact, near)
    pos = positions(index.groups, key)
    found = index.groups[pos] == key
    m = near.shape[0]
    if m == 0:
        lo = np.searchsorted(index.keys, pos, side="left")
        hi = np.searchsorted(index.keys, pos, side="right")
        return np.where(found, np.minimum(hi - lo, cap), 0)
    offsets = [_bins(near[p], w) - low + 1 for p, w, low in zip(index.pivots, index.widths, index.lows, strict=True)]
    centre = pos.astype(np.int64)
    for offset, span in zip(offsets, index.spans, strict=True):
        found &= (offset >= 0) & (offset <= span - 1)
        centre = centre * span + np.clip(offset, 0, span - 1)
    # the queries in their place in the index's sort, so that the searches below walk it forward (see positions)
    order = np.argsort(centre, kind="stable")
    pos, found, near = pos[order], found[order], near[:, order]
    offsets = [o[order] for o in offsets]
    values = np.nan_to_num(near, nan=0.0)
    _exact_counts(index, pos, found, values, counts, cap)
    # the candidates lie in one run of the sort per bin offset of the first pivot (-1, 0, +1) when there are two:
    # the second pivot's three bins around the query's are contiguous within it
    *outer, last = offsets
    outer_shifts: list[tuple[int, ...]] = [()] if not outer else [(-1,), (0,), (1,)]
    long = np.zeros(n, dtype=bool)
    for shift in outer_shifts:
        base = pos.astype(np.int64)
        ok = found.copy()
        for offset, span, d in zip(outer, index.spans[:-1], shift, strict=True):
            o = offset + d
            ok &= (o >= 0) & (o <= span - 1)
            base = base * span + np.clip(o, 0, span - 1)
        base = base * index.spans[-1]
        lo = np.searchsorted(index.keys, base + np.clip(last - 1, 0, index.spans[-1] - 1), side="left")
        hi = np.searchsorted(index.keys, base + np.clip(last + 1, 0, index.spans[-1] - 1), side="right")
        sizes = np.where(ok & (counts < cap), hi - lo, 0)
        # first the nearest _FIRST candidates of each row: a common value (everyone's null, a full-time 1.00)
        # makes runs of millions, but then the first candidates already reach the cap; the rest only for rows
        # that did not
        first = np.minimum(sizes, _FIRST)
        _count(index, values, np.nonzero(first)[0], lo, first, counts, cap)
        long |= sizes > _FIRST
    # rows with more candidates than that, still under the cap: a dense region where the two pivots' bins do
    # not narrow (full-time in both pivot periods, varying in the others). Comparing their whole runs grew
    # with the square of the input (more such rows, longer runs: 7 of 1,000,000 persons' guard seconds, 560
    # of 7,500,000's); their group's k-d tree finds the rows near on every coordinate at once
    more = np.nonzero(long & (counts < cap))[0]
    if len(more):
        counts[more] = np.minimum(neartree.tree_counts(index, values, pos, more), cap)
    out = np.empty(n, dtype=np.int64)
    out[order] = counts
    return out


def _count(index: NearIndex, values: np.ndarray, rows: np.ndarray, lo: np.ndarray, sizes: np.ndarray,
           counts: np.ndarray, cap: int) -> None:
    """Add to ``counts`` the candidates lo..lo+sizes of ``rows`` within tolerance on every coordinate, in
    chunks of rows whose candidate pairs fit _PAIR_CHUNK."""
    start = 0
    while start < len(rows):
        total = np.cumsum(sizes[rows[start:]])
        stop = start + max(1, int(np.searchsorted(total, _PAIR_CHUNK, side="right")))
        chunk = rows[start:stop]
        reps = sizes[chunk]
        query = np.repeat(np.arange(len(chunk)), reps)
        cand = np.repeat(lo[chunk] - np.cumsum(reps) + reps, reps) + np.arange(len(query))
        for i in range(values.shape[0]):  # each coordinate compares only the pairs the previous ones kept
            keep = np.abs(values[i, chunk[query]] - index.values[i, cand]) <= index.tolerance[i]
            query, cand = query[keep], cand[keep]
        found = (np.bincount(query, minlength=len(chunk)) if index.weight is None
                 else np.bincount(query, weights=index.weight[cand], minlength=len(chunk)).astype(np.int64))
        counts[chunk] = np.minimum(counts[chunk] + found, cap)
        start = stop
