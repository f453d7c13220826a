"""Coverage of a table block too small for every category k times: what is impossible is shown by counting,
and every category still gets its share (scrambler/scramble/capacity.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from scrambler.check import check
from scrambler.coverage import block_counts
from scrambler.population import generate_population
from scrambler.scramble import scramble
from scrambler.scramble.capacity import Target, floors_by_block
from scrambler.scramble.cover import block_targets, scarce_rows
from scrambler.scramble.gaps import Gap, format_gaps


@given(st.integers(1, 20), st.integers(0, 300), st.integers(0, 2_000))
def test_share_is_k_exactly_when_the_block_can_hold_every_category_k_times(k: int, categories: int, rows: int) -> None:
    target = Target(k, categories, rows)
    assert 0 <= target.share <= k and 1 <= target.ask <= k and target.ask >= target.share
    assert target.limited == (categories * k > rows)  # limited only when counting shows k for all impossible
    if target.limited:
        assert categories * target.share <= rows < categories * (target.share + 1)  # the largest equal share
    else:
        assert target.share == target.ask == k


def test_a_block_too_small_for_k_of_each_gets_its_share_and_says_why(mini_spec) -> None:
    """60 persons into 12 with k=5: some variables show more categories than a table block can hold 5 times.
    Recounted here from the panels: a gap is called impossible only where categories x k exceeds the block's
    rows, and every input category of such a block holds at least its share (rows // categories) unless it is
    listed as not reached."""
    source = generate_population(mini_spec, 60, seed=5)
    result = scramble(mini_spec, source, 12, seed=6, k=5)
    out = result.panel
    assert check(mini_spec, out).ok
    index = {p: i for i, p in enumerate(out.periods)}
    rows = {name: int(out.present[index[period]].sum()) for name, _, period in mini_spec.table_names()}
    wanted, have = block_counts(source), block_counts(out)
    gaps = {(g.table, g.block, g.variable, g.code): g for g in result.gaps}
    limited = 0
    for (table, suffix, name), counts in wanted.items():
        categories = int((counts > 0).sum())
        small = categories * 5 > rows[table]
        limited += small
        share = rows[table] // categories if small else 5
        for code in np.nonzero(counts > 0)[0]:
            got = int(have[(table, suffix, name)][code])
            gap = gaps.get((table, suffix or "", name, mini_spec.variables[name].codes[code]))
            if got >= 5:
                assert gap is None
                continue
            assert gap is not None and gap.got == got  # every category short of k is listed
            if gap.impossible:
                assert small and got >= share and "too few rows" in gap.reason, gap
            else:
                assert got < share or not small, gap  # a category below its share is never excused
    assert limited, "the test must reach a block too small for k of each category"
    assert any(g.impossible and "too few rows" in g.reason for g in result.gaps)


def test_stdout_lists_gaps_not_reached_first_and_counts_each_status() -> None:
    gaps = [Gap("t", "", "v", str(i), 5, 3, impossible=True, reason="too few rows") for i in range(12)]
    gaps += [Gap("t", "", "w", "x", 5, 0, reason="not reached after 2 coverage round(s)")]
    lines = format_gaps(gaps)
    assert lines[0].startswith("  not reached: t w=x")
    assert "3 more gap(s) (0 not reached, 3 not coverable)" in lines[-1]


def test_scarce_rows_mark_what_a_block_cannot_lend(mini_spec) -> None:  # type: ignore[no-untyped-def]
    """A redraw changes the whole person-period: the rows holding a category at or under its floor are marked
    at the period the block shows (a static at every period), and no other row is."""
    panel = generate_population(mini_spec, 400, 2)
    _, _, period = mini_spec.table_names()[0]
    t = mini_spec.panel.periods.index(period)
    status, sex = mini_spec.variables["status"], mini_spec.variables["sex"]
    rows = np.nonzero(panel.present[t])[0]
    rare = status.codes.index("X")
    panel.periodic["status"][t, rows] = status.codes.index("U")
    panel.periodic["job"][t, rows] = -1
    panel.periodic["status"][t, rows[:5]] = rare  # 5 rows of X: at the floor, none to lend
    women = np.nonzero(panel.static["sex"] == sex.codes.index("F"))[0]
    panel.static["sex"][women[3:]] = sex.codes.index("M")  # 3 women left: under it
    have = block_counts(panel)
    k = 5
    targets = block_targets(have, {n: int(panel.present[mini_spec.panel.periods.index(p)].sum())
                                   for n, _, p in mini_spec.table_names()}, mini_spec, k, False)
    floors = floors_by_block({key: target for key, (_, target) in targets.items()})
    tables = {n: (tb, p) for n, tb, p in mini_spec.table_names()}
    index = {p: i for i, p in enumerate(mini_spec.panel.periods)}
    held = scarce_rows(panel, have, targets, floors, tables, index)
    assert held[t, rows[:5]].all(), "the rows of a category at its floor"
    assert held[:, women[:3]].all(), "a scarce static: at every period"
    # every other row is marked exactly when, in some table block, one of its values is scarce there
    period_of = {key: mini_spec.panel.periods.index(tables[key[0]][1])
                 + next(b for b in tables[key[0]][0].blocks if b.suffix == key[1]).offset for key in targets}
    for r in _plain_rows(rows, women):
        expect = False
        for key, (needed, _) in targets.items():
            tb, sfx, v = key
            s = period_of[key]
            t0 = mini_spec.panel.periods.index(tables[tb][1])
            value = panel.values(v, s)[r]
            is_static = mini_spec.variables[v].is_static
            if (is_static or s == t) and panel.present[t0, r] and value >= 0:
                expect |= bool(needed[value] and 0 < have[key][value] <= floors[(tb, sfx)][v])
        assert held[t, r] == expect, r


def _plain_rows(rows, women):  # type: ignore[no-untyped-def]
    """Sixty rows besides those planted, the same each run."""
    plain = np.setdiff1d(rows[5:], women[:3])
    return np.random.default_rng(0).choice(plain, size=min(60, len(plain)), replace=False)
