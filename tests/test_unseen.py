"""Guarantees on specs the engine has not grown up with (issue 13): exact compare bounds whatever the
expression's unit, coverage along trajectories, and gaps that say whether they are shown impossible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler.constraints.registry import compile_rules
from scrambler.panel import Panel
from scrambler.scramble.gaps import Gap, explain_gaps, format_gaps
from scrambler.spec import load_spec


def test_gap_is_impossible_only_when_the_domain_excludes_it(copy_spec, edit, mini_dir: Path) -> None:
    spec_dir = copy_spec(mini_dir)
    edit(spec_dir / "variables.yaml", 'group: status, source: "fixture §3"}\n  - {name: wage',
         'group: status, source: "fixture §3", constraints: {forbidden: [J2]}}\n  - {name: wage')
    spec = load_spec(spec_dir)
    gaps = [Gap("persons_2020", "", "job", "J2", 5, 0), Gap("persons_2020", "", "job", "J1", 5, 3)]
    shown, reached = explain_gaps(spec, gaps, {"job": {"J1"}}, rounds=4)
    assert shown.impossible and "exclude" in shown.reason
    assert not reached.impossible
    assert "after 4 coverage round(s)" in reached.reason and "the input holds it" in reached.reason
    for rule in ("worker-has-job", "nonworker-no-job", "job-group"):  # the rules that tie `job`
        assert rule in reached.reason
    assert reached.to_dict()["status"] == "not reached" and shown.to_dict()["status"] == "impossible"


def test_every_gap_listed_or_counted() -> None:
    gaps = [Gap("t", "", "v", str(i), 5, 1, reason="r") for i in range(13)]
    lines = format_gaps(gaps)
    assert len(lines) == 11
    assert "3 more gap(s)" in lines[-1]
    assert len(format_gaps(gaps[:10])) == 10


def _compare_spec(tmp_path: Path, copy_spec, edit, mini_dir: Path, right: str, op: str) -> Path:
    spec_dir = copy_spec(mini_dir)
    edit(spec_dir / "variables.yaml", "  - {name: dead,",
         "  - {name: years_in, type: integer, group: status, source: \"fixture\"}\n"
         "  - {name: since_m, type: year_month, group: status, source: \"fixture\"}\n  - {name: dead,")
    text = (spec_dir / "rules.yaml").read_text()
    text += (f"  - id: years-in-compare\n    kind: compare\n    reason: test\n    left: years_in\n"
             f"    op: \"{op}\"\n    right: {right}\n")
    (spec_dir / "rules.yaml").write_text(text)
    return spec_dir


@pytest.mark.parametrize("right", ["period - reg_year", "period - reg_year + 3 months",
                                   "period_end - since_m", "2 years + reg_year - period"])
@pytest.mark.parametrize("op", ["<", "<=", "=", ">=", ">"])
def test_compare_bounds_agree_with_is_valid_across_units(tmp_path, copy_spec, edit, mini_dir, right, op) -> None:
    """An integer meeting a year or month expression: every value inside the bounds is valid, every value
    just outside is not (the sampler never has to guess)."""
    spec = load_spec(_compare_spec(tmp_path, copy_spec, edit, mini_dir, right, op))
    rule = next(r for r in compile_rules(spec) if r.id == "years-in-compare")
    rng = np.random.default_rng(0)
    n = 200
    panel = Panel.empty(spec, n)
    t = 1
    panel.present[:] = True
    panel.static["reg_year"][:] = rng.integers(1950, 2022, n)
    panel.periodic["since_m"][t] = rng.integers(2000 * 12, 2021 * 12, n)
    frame = panel.frame(t)
    low, high = rule.bounds("years_in", frame)
    finite = np.isfinite(low) | np.isfinite(high)
    assert finite.all()
    for values, expect in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
        ok = np.isfinite(values) & (low <= high)
        trial = frame.with_value("years_in", np.where(ok, values, 0.0))
        valid = rule.is_valid(trial)
        assert (valid[ok] == expect).all(), (op, right)


@settings(max_examples=40, deadline=None)
@given(year=st.integers(1950, 2030), period_index=st.integers(0, 3), value=st.integers(0, 1200),
       op=st.sampled_from(["<", "<=", "=", "!=", ">=", ">"]))
def test_year_variable_bounds_in_month_expression(mini_dir: Path, year: int, period_index: int, value: int,
                                                  op: str) -> None:
    """A year variable compared in months (the finer grain): the bounds mapped back to years hold exactly
    the years that is_valid accepts."""
    from scrambler.constraints.compare import Compare
    from scrambler.spec.expressions import parse_expression
    from scrambler.spec.model import CompareSpec

    spec = load_spec(mini_dir)
    cs = CompareSpec(id="x", reason="t", source=None,
                     left=parse_expression("reg_year"), op=op,
                     right=parse_expression(f"since - {value} months"))
    rule = Compare(cs, spec)
    panel = Panel.empty(spec, 1)
    panel.present[:] = True
    panel.periodic["since"][period_index] = year * 12 + 5
    frame = panel.frame(period_index)
    bounds = rule.bounds("reg_year", frame)
    years = np.arange(1900, 2101, dtype=float)
    valid = np.array([rule.is_valid(frame.with_value("reg_year", np.array([y])))[0] for y in years])
    if bounds is None:
        assert op == "!="
        return
    inside = (years >= bounds[0][0]) & (years <= bounds[1][0])
    assert (inside == valid).all()
