"""The coverage moves on their own: the spare-row budget, mixed-radix combination counts, whole-person redraws
around a static value."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scrambler.check import check
from scrambler.panel import Panel
from scrambler.population import generate_population
from scrambler.sampling import Sampler
from scrambler.sampling.sampler import draw_order
from scrambler.scramble.combos import combination_counts, ensure_combinations
from scrambler.scramble.moves import redraw, redraw_persons, spare_rows
from scrambler.scramble.profile import profile_models
from scrambler.spec import DatasetSpec
from scrambler.spec.model import BlockSpec


@pytest.fixture(scope="module")
def population(mini_spec: DatasetSpec) -> Panel:
    return generate_population(mini_spec, 600, 4)


def _copy(panel: Panel) -> Panel:
    return panel.subset(np.arange(panel.n))


def _first_block(spec: DatasetSpec) -> tuple[str, int, BlockSpec, int]:
    """The first table's first period: (table name, t0, its first block, the block's period index)."""
    name, table, period = spec.table_names()[0]
    t0 = spec.panel.periods.index(period)
    block = table.blocks[0]
    return name, t0, block, t0 + block.offset


def test_spare_rows_lends_at_most_count_minus_k(mini_spec: DatasetSpec, population: Panel) -> None:
    panel = _copy(population)
    _, t0, block, t = _first_block(mini_spec)
    rows = np.nonzero(panel.present[t0])[0]
    status = mini_spec.variables["status"]
    # plant: code 0 on 7 rows, code 1 on 3 rows, the rest on code 2 (nulls are not allowed for status)
    values = np.full(len(rows), 2, dtype=panel.periodic["status"].dtype)
    values[:7], values[7:10] = 0, 1
    panel.periodic["status"][t, rows] = values
    k = 5
    candidates = np.random.default_rng(1).permutation(rows)
    kept = spare_rows(panel, t0, t, block.variables, ["status"], k, (), candidates)
    lent = np.bincount(panel.periodic["status"][t, kept].astype(np.int64), minlength=len(status.codes))
    assert lent[0] == 7 - k and lent[1] == 0 and lent[2] == len(rows) - 10 - k
    # in candidate order: the first rows of each code are the ones lent
    first_zero = [r for r in candidates if panel.periodic["status"][t, r] == 0][: 7 - k]
    assert [r for r in kept if panel.periodic["status"][t, r] == 0] == first_zero


def test_spare_rows_protects_declared_tuples(mini_spec: DatasetSpec, population: Panel) -> None:
    panel = _copy(population)
    name, t0, block, t = _first_block(mini_spec)
    rows = np.nonzero(panel.present[t0])[0]
    combo = ("sex", "status")
    before = combination_counts(panel, (combo,))[(name, block.suffix, combo)]
    kept = spare_rows(panel, t0, t, block.variables, ["status"], 3, (combo,), rows)
    taken = pd.Series(list(zip(panel.static["sex"][kept].tolist(), panel.periodic["status"][t, kept].tolist(),
                               strict=True))).value_counts()
    for tup, count in taken.items():
        # giving up every row returned leaves each tuple at 3 or more where it was
        assert before[tup] - count >= 3, (tup, before[tup], count)
    assert len(kept) > 0


def test_spare_rows_budgets_a_static_over_every_table(mini_spec: DatasetSpec, population: Panel) -> None:
    """A static shows in every table its person is in: what it lends must leave k in each of them."""
    panel = _copy(population)
    _, t0, block, t = _first_block(mini_spec)
    sex = mini_spec.variables["sex"]
    female = sex.codes.index("F")
    women = np.nonzero(panel.static["sex"] == female)[0]
    panel.static["sex"][women[12:]] = sex.codes.index("M")  # 12 women left, spread over the periods
    k = 3
    kept = spare_rows(panel, t0, t, block.variables, ["sex"], k, (), np.arange(panel.n))
    lent = np.zeros(panel.n, dtype=bool)
    lent[kept] = True
    periods = sorted({mini_spec.panel.periods.index(p) for _, _, p in mini_spec.table_names()})
    for p in periods:
        there = panel.present[p] & (panel.static["sex"] == female)
        if there.any():
            assert (there & ~lent).sum() >= k, f"period {p}: fewer than k women left"
    assert (lent & (panel.static["sex"] == female)).any(), "some women can still be lent"


def test_combination_counts_match_a_groupby(mini_spec: DatasetSpec, population: Panel) -> None:
    combo = ("region", "office", "status")
    counts = combination_counts(population, (combo,))
    assert counts
    index = {p: i for i, p in enumerate(mini_spec.panel.periods)}
    for name, table, period in mini_spec.table_names():
        t = index[period]
        for block in table.blocks:
            key = (name, block.suffix, combo)
            if key not in counts:
                continue
            rows = population.present[t]
            frame = pd.DataFrame({v: population.values(v, t + block.offset)[rows] for v in combo})
            frame = frame[(frame >= 0).all(axis=1)]
            expected = {tuple(int(x) for x in k): int(c) for k, c in frame.value_counts().items()}
            assert counts[key] == expected


def test_redraw_persons_moves_a_static_that_others_depend_on(mini_spec: DatasetSpec, population: Panel) -> None:
    panel = _copy(population)
    sex, leave = mini_spec.variables["sex"], mini_spec.variables["leave"]
    female, male, maternity = sex.codes.index("F"), sex.codes.index("M"), leave.codes.index("MAT")
    on_leave = np.nonzero((panel.periodic["leave"] == maternity).any(axis=0))[0]
    assert len(on_leave) >= 3, "the stand-in has women on maternity leave"
    # direct moves cannot make them men (maternity-women); a whole-person redraw can
    rows = on_leave[:10]
    others = np.setdiff1d(np.arange(panel.n), rows)
    before_others = {n: v[:, others].copy() for n, v in panel.periodic.items()}
    templates = np.nonzero(population.static["sex"] == male)[0][: len(rows)]
    sampler = Sampler(mini_spec, profile_models(population, set()), draw_order(mini_spec))
    took = redraw_persons(panel, sampler, np.random.default_rng(5), rows, {"sex": male}, population, templates)
    assert len(took) > 0
    assert (panel.static["sex"][took] == male).all()
    assert not (panel.periodic["leave"][:, took] == maternity).any()
    back = np.setdiff1d(rows, took)
    assert (panel.static["sex"][back] == female).all(), "rows that did not take the value are put back"
    for n, v in before_others.items():
        assert np.array_equal(v, panel.periodic[n][:, others], equal_nan=v.dtype.kind == "f"), n
    assert np.array_equal(panel.present, population.present), "presence is never redrawn"
    assert check(mini_spec, panel).violations == 0


def _block_counts_at_least(panel: Panel, combo: tuple[str, ...], k: int) -> set[tuple[object, ...]]:
    """Every (table, block, variable(s), value) held k times or more: categories of the combination's variables
    and its tuples."""
    held: set[tuple[object, ...]] = set()
    for key, tuples in combination_counts(panel, (combo,)).items():
        held |= {(*key, tup) for tup, c in tuples.items() if c >= k}
    for v in combo:
        for key, tuples in combination_counts(panel, ((v,),)).items():
            held |= {(*key, tup) for tup, c in tuples.items() if c >= k}
    return held


def test_redraw_takes_several_categories_in_one_draw(mini_spec: DatasetSpec, population: Panel) -> None:
    panel = _copy(population)
    _, t0, _, t = _first_block(mini_spec)
    # rows holding neither category: a row that took one has changed, one put back has not
    rows = np.nonzero(panel.present[t] & (panel.periodic["status"][t] > 1))[0][:60]
    status = mini_spec.variables["status"]
    codes = np.where(np.arange(len(rows)) % 2 == 0, 0, 1)  # two categories, alternating rows
    groups = codes.copy()
    needs = np.array([4, 7])
    before = {n: v.copy() for n, v in panel.periodic.items()}
    sampler = Sampler(mini_spec, profile_models(population, set()), draw_order(mini_spec))
    took = redraw(panel, sampler, np.random.default_rng(3), "status", codes, t, rows, needs, groups=groups)
    changed = np.zeros(panel.n, dtype=bool)
    for n, v in panel.periodic.items():
        same = (v == before[n]) | (np.isnan(v) & np.isnan(before[n])) if v.dtype.kind == "f" else v == before[n]
        changed |= ~same.all(axis=0)
    # only the redrawn rows changed, only at t, and at most `need` per category took it
    assert not changed[np.setdiff1d(np.arange(panel.n), rows)].any()
    for n, v in panel.periodic.items():
        other = np.delete(np.arange(len(panel.periods)), t)
        assert np.array_equal(v[other], before[n][other], equal_nan=v.dtype.kind == "f"), n
    moved = rows[changed[rows]]
    for code, need in enumerate(needs):
        mine = moved[codes[np.searchsorted(rows, moved)] == code]
        assert (panel.periodic["status"][t, mine] == code).all(), status.codes[code]
        assert len(mine) <= need
    assert took == len(moved) > 0
    assert check(mini_spec, panel).violations == 0


def test_combinations_are_covered_one_draw_per_block_without_robbing_others(
        mini_spec: DatasetSpec, population: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    import scrambler.scramble.combos as combos_module

    combo = ("office", "status")
    spec = replace(mini_spec, scramble=replace(mini_spec.scramble, coverage_combinations=(combo,)))
    source = Panel.__new__(Panel)
    source.__dict__.update(population.__dict__)
    source.spec = spec
    out = source.subset(np.arange(0, population.n, 6))  # a sixth of the persons: many tuples fall short
    k = 5
    wanted = combination_counts(source, (combo,))
    short_before = sum(1 for key, tuples in wanted.items() for tup in tuples
                       if combination_counts(out, (combo,)).get(key, {}).get(tup, 0) < k)
    held_before = _block_counts_at_least(out, combo, k)
    calls: list[int] = []
    real = combos_module.redraw

    def counting(*args: object, **kwargs: object) -> int:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(combos_module, "redraw", counting)
    sampler = Sampler(spec, profile_models(source, set()), draw_order(spec))
    passes = 3
    ensure_combinations(source, out, sampler, np.random.default_rng(8), k, passes=passes)
    have = combination_counts(out, (combo,))
    short_after = sum(1 for key, tuples in wanted.items() for tup in tuples if have.get(key, {}).get(tup, 0) < k)
    assert short_before >= 20 and short_after < short_before / 2, (short_before, short_after)
    # coverage is never zero-sum: nothing held k times before falls below k
    assert held_before <= _block_counts_at_least(out, combo, k)
    # all short tuples of a table block in one draw: at most one redraw per block and pass
    assert 0 < len(calls) <= passes * len(wanted)
    assert check(spec, out).violations == 0


def test_a_category_no_row_has_the_context_for_is_drawn_first(mini_spec: DatasetSpec, population: Panel) -> None:
    """Office C needs region East (office-of-region), and region is drawn before office: where every person
    lives North, a redraw in the spec's order keeps the region and vetoes C; drawn first, C takes a region
    that allows it, and every rule still holds."""
    panel = _copy(population)
    _, t0, _, t = _first_block(mini_spec)
    region, office = mini_spec.variables["region"], mini_spec.variables["office"]
    north, east, c = region.codes.index("N"), region.codes.index("E"), office.codes.index("C")
    rows = np.nonzero(panel.present[t])[0]
    panel.periodic["region"][t, rows] = north
    panel.periodic["office"][t, rows] = -1  # North allows office A or none
    assert check(mini_spec, panel).violations == 0
    sampler = Sampler(mini_spec, profile_models(population, set()), draw_order(mini_spec))
    rng = np.random.default_rng(3)
    assert redraw(panel, sampler, rng, "office", c, t, rows[:40], 5) == 0
    assert not (panel.periodic["office"][t] == c).any()
    took = redraw(panel, sampler.leading("office"), rng, "office", c, t, rows[:40], 5)
    assert took == 5
    holding = np.nonzero(panel.periodic["office"][t] == c)[0]
    assert len(holding) == 5 and (panel.periodic["region"][t, holding] == east).all()
    untouched = np.setdiff1d(rows, holding)
    assert (panel.periodic["region"][t, untouched] == north).all(), "rows that did not keep C are put back"
    assert check(mini_spec, panel).violations == 0


def test_leading_sampler_draws_the_variable_first_and_keeps_the_rules(mini_spec: DatasetSpec) -> None:
    sampler = Sampler(mini_spec, {}, draw_order(mini_spec))
    statics = [n for n in sampler.order if mini_spec.variables[n].is_static]
    periodic = sampler.leading("office")
    assert periodic.order == statics + ["office"] + [n for n in sampler.order if n not in statics and n != "office"]
    assert sampler.leading("sex").order[0] == "sex"
    assert sorted(periodic.order) == sorted(sampler.order)
    assert periodic.rules is sampler.rules, "the rules are compiled once"
    assert sampler.leading("office") is periodic
    # a rule is checked when its last variable is drawn: office-of-region now goes with the region
    assert "office-of-region" in [r.id for r in periodic.variable_rules["region"].later_rules]
    assert "office-of-region" not in [r.id for r in periodic.variable_rules["office"].later_rules]
