"""The counting and grouping shortcuts on hot paths, each against the plain numpy it replaced.

unique_counts (hashing, then sorting the distinct values only), the identifier sets of a decode (one pass
over sorted ids), and the donor pools (a radix sort of key ranks) must give exactly what np.unique and a
stable argsort of the keys give: the output of a run depends on them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scrambler import decode
from scrambler.coverage import FEW_CODES, count_codes
from scrambler.scramble import nearness
from scrambler.scramble.donors import DonorPool
from scrambler.scramble.nearness import count_keys, stable_order, unique_counts, unique_inverse


@pytest.mark.parametrize("distinct", [1, 7, 5_000, 10**9])
@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_unique_counts_is_np_unique(distinct: int, dtype: type) -> None:
    rng = np.random.default_rng(distinct)
    values = rng.integers(0, distinct, 20_000).astype(dtype)
    if dtype is np.int64:
        values -= distinct // 2  # negatives sort before positives
    else:
        values *= np.uint64(0x9E3779B97F4A7C15)  # hashes: the high bit set on half of them
    got_keys, got_counts = unique_counts(values)
    keys, counts = np.unique(values, return_counts=True)
    np.testing.assert_array_equal(got_keys, keys)
    np.testing.assert_array_equal(got_counts, counts)
    assert got_keys.dtype == values.dtype


@pytest.mark.parametrize("shuffle", [False, True])
def test_identifier_sets_are_np_unique(shuffle: bool) -> None:
    rng = np.random.default_rng(4)
    parts = [np.sort(rng.choice(5_000, 3_000, replace=False)).astype(np.int64) for _ in range(4)]
    parts[2] = np.append(parts[2], parts[2][:3])  # duplicates
    if shuffle:
        parts = [rng.permutation(p) for p in parts]
    for p in parts:
        got_ids, got_counts = decode._sorted_unique(p)
        ids, counts = np.unique(p, return_counts=True)
        np.testing.assert_array_equal(got_ids, ids)
        np.testing.assert_array_equal(got_counts, counts)
    uniques = [decode._sorted_unique(p)[0] for p in parts]
    np.testing.assert_array_equal(decode._union(uniques), np.unique(np.concatenate(parts)))


@pytest.mark.parametrize(("persons", "distinct"), [(0, 1), (1, 1), (2_000, 7), (200_000, 60), (30_000, 20_000)])
def test_donor_pool_groups_as_a_stable_sort_of_the_keys(persons: int, distinct: int) -> None:
    rng = np.random.default_rng(persons + distinct)
    keys = (rng.integers(-1, distinct, persons) * 977).astype(np.int64)  # -1: a null stratum value
    ids = np.sort(rng.choice(3 * persons + 1, persons, replace=False))
    pool = DonorPool(keys, ids, np.random.default_rng(9))
    # the construction it replaced: shuffle with the same generator, stable argsort, np.unique
    shuffle = np.random.default_rng(9).permutation(persons)
    shuffled = keys[shuffle]
    order = np.argsort(shuffled, kind="stable")
    unique, starts, counts = np.unique(shuffled[order], return_index=True, return_counts=True)
    np.testing.assert_array_equal(pool.persons, ids[shuffle[order]])
    np.testing.assert_array_equal(pool.unique, unique)
    np.testing.assert_array_equal(pool.starts, starts)
    np.testing.assert_array_equal(pool.counts, counts)
    if persons:  # and a pick takes a donor of the asked key
        asked = keys[rng.integers(0, persons, 500)]
        picked = pool.pick(asked, np.random.default_rng(1))
        position = np.searchsorted(ids, picked)
        np.testing.assert_array_equal(keys[position], asked)


@pytest.mark.parametrize("upper", [1, 300, 2**15, 2**15 + 1, 10**12])
def test_stable_order_is_a_stable_argsort(upper: int) -> None:
    keys = np.random.default_rng(upper).integers(0, upper, 50_000).astype(np.int64)
    np.testing.assert_array_equal(stable_order(keys, upper), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("sizes", [[3, 4], [2] * 20, [10**7, 10**7], [4] * 35])
def test_count_keys_is_np_unique(sizes: list[int]) -> None:
    """Both branches (a bincount over a small key space, unique_counts over a large one), and a key space
    whose product overflows int64 (35 four-slot codes) must not take the bincount branch."""
    rng = np.random.default_rng(len(sizes))
    upper = min(math.prod(sizes), 2**62)
    keys = rng.integers(0, upper, 20_000).astype(np.int64)
    got = count_keys(keys, sizes)
    want = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("distinct", [3, 100_000])
def test_unique_inverse_is_np_unique(distinct: int) -> None:
    values = np.random.default_rng(distinct).integers(0, distinct, 60_000).astype(np.uint64) * np.uint64(2**40)
    keys, inverse = unique_inverse(values)
    want_keys, want_inverse = np.unique(values, return_inverse=True)
    assert np.array_equal(keys, want_keys) and np.array_equal(inverse, want_inverse)


def _lexsorted_distinct(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows the index stores, as a full lexsort finds them: the first of each run of equal rows."""
    order = np.lexsort((*values[::-1], keys))
    k, v = keys[order], values[:, order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = (k[1:] != k[:-1]) | (v[:, 1:] != v[:, :-1]).any(axis=0)
    starts = np.nonzero(first)[0]
    return order[starts], np.diff(np.append(starts, len(k)))


@pytest.mark.parametrize(("key_space", "value_space", "collide"),
                         [(10**9, 1000, False), (50, 3, False), (50, 3, True), (100_000, 2, False)])
def test_distinct_rows_are_those_of_a_full_lexsort(key_space: int, value_space: int, collide: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Few shared keys (rows sorted by key, ties on their coordinates), most keys shared (equal rows found by
    hashing), and every hash equal (a collision: all rows sorted as before)."""
    rng = np.random.default_rng(key_space + value_space)
    n = 30_000
    keys = rng.integers(0, key_space, n)
    values = rng.integers(0, value_space, (3, n)) / 4
    values[0, ::7] = -0.0 if value_space > 2 else 0.0
    values += 0.0  # as build() passes them: no negative zero
    if collide:
        monkeypatch.setattr(nearness, "hash_columns", lambda columns, n: np.zeros(n, dtype=np.uint64))
    rows, weight = nearness._distinct_rows(keys, values)
    want_rows, want_weight = _lexsorted_distinct(keys, values)
    assert np.array_equal(rows, want_rows) and np.array_equal(weight, want_weight)
    assert weight.sum() == n


@pytest.mark.parametrize("k", [1, 2, FEW_CODES, FEW_CODES + 1, 300])
@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_count_codes_is_np_unique(k: int, dtype: type) -> None:
    """Either route (a comparison per code, or a bincount) counts what np.unique counts, nulls (-1) left out,
    and every code of the list has its slot, held or not."""
    if dtype is np.int8 and k > 127:
        return
    rng = np.random.default_rng(k)
    values = rng.integers(-1, k, 10_000).astype(dtype)
    values[values == k - 1] = -1  # the last code never held
    codes, counts = np.unique(values[values >= 0], return_counts=True)
    expected = np.zeros(k, dtype=np.intp)
    expected[codes] = counts
    got = count_codes(values, k)
    np.testing.assert_array_equal(got, expected)
    assert len(got) == k


def _plain_hash(columns: list[np.ndarray], n: int) -> np.ndarray:
    """The row hash written the plain way (a new array per step): what hash_columns computes in place."""
    h = np.full(n, np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, values in enumerate(columns):
            if values.dtype.kind == "f":
                v = np.where(np.isnan(values), -1e300, np.round(values, 6)).view(np.uint64)
            else:
                v = values.astype(np.int64).astype(np.uint64)
            h ^= (v + np.uint64(i + 1)) * np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    return h


def test_hash_columns_in_place_is_the_plain_hash() -> None:
    rng = np.random.default_rng(8)
    n = 5_000
    numbers = rng.normal(size=n) * 1e4
    numbers[:50] = np.nan
    numbers[50:60] = -0.0
    numbers[60:70] = 1e300
    columns = [rng.integers(-1, 4, n).astype(np.int16), numbers, rng.random(n) < 0.5,
               rng.integers(-2**62, 2**62, n), rng.integers(-1, 100, n).astype(np.int8)]
    got = nearness.hash_columns(iter(columns), n)  # a generator is taken too
    np.testing.assert_array_equal(got, _plain_hash(columns, n))
    # a whole number hashes alike in any integer dtype and as a bool: the input's and the output's columns
    # need not share a dtype
    codes = rng.integers(-1, 2, n)
    same = [nearness.hash_columns([codes.astype(dtype)], n) for dtype in (np.int8, np.int16, np.int64)]
    np.testing.assert_array_equal(same[0], same[1])
    np.testing.assert_array_equal(same[0], same[2])
    flags = rng.random(n) < 0.3
    np.testing.assert_array_equal(nearness.hash_columns([flags], n), nearness.hash_columns([flags.astype(np.int16)], n))
    assert len(np.unique(got)) > n * 0.99  # distinct rows get distinct hashes


@pytest.mark.parametrize("block", [1, 7, 64, 4096])
def test_hashes_in_blocks_are_the_plain_hash_of_the_rows_asked(block: int, monkeypatch) -> None:
    """Rows are hashed HASH_ROWS at a time, gathered block by block when ``rows`` are given (unsorted, repeated,
    a last block shorter): the hash of every row is the plain one of that row, whatever the block size."""
    monkeypatch.setattr(nearness, "HASH_ROWS", block)
    rng = np.random.default_rng(block)
    n = 1_000
    numbers = rng.normal(size=n)
    numbers[::9] = np.nan
    columns = [rng.integers(-1, 5, n).astype(np.int8), numbers, rng.random(n) < 0.5]
    plain = _plain_hash(columns, n)
    np.testing.assert_array_equal(nearness.hash_columns(columns, n), plain)
    rows = np.concatenate([rng.permutation(n)[:333], [5, 5, 999]])
    np.testing.assert_array_equal(nearness.hash_columns(columns, len(rows), rows), plain[rows])
    assert len(nearness.hash_columns(columns, 0, rows[:0])) == 0


def test_row_hashes_of_most_rows_equal_those_of_a_few(mini_spec) -> None:
    """row_hashes hashes every row and gathers when asked for most rows, and gathers the values first for a
    few: a row's hash must not depend on which other rows were asked."""
    from scrambler.population import generate_population
    from scrambler.scramble import guard

    panel = generate_population(mini_spec, 300, 2)
    names = [v.name for v in mini_spec.data_variables if not v.is_static][:6] + [
        v.name for v in mini_spec.data_variables if v.is_static][:2]
    everyone = np.arange(panel.n)
    few = np.array([3, 17, 17, 250])  # fewer than half, one repeated
    for t in range(len(panel.periods)):
        whole = guard.row_hashes(panel, names, t, everyone)
        np.testing.assert_array_equal(guard.row_hashes(panel, names, t, few), whole[few])
        np.testing.assert_array_equal(guard.row_hashes(panel, names, t, everyone[::-1]), whole[::-1])
        assert len(np.unique(whole)) > 1
