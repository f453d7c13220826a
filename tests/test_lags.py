"""``previous(x)`` in compare rules (issue 13): a variable's value at the previous period, so that a spec can say
"a wage grows by at most 40 a year" or "experience grows by exactly 1". The parser, validation, the check,
and the sampler's view one period ahead (a value redrawn between two drawn periods keeps the rule at both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrambler.check import check
from scrambler.constraints.registry import compile_rules
from scrambler.panel import Panel
from scrambler.population import generate_population
from scrambler.sampling import Sampler
from scrambler.sampling.sampler import draw_order
from scrambler.scramble import scramble
from scrambler.scramble.profile import profile_models
from scrambler.spec import load_spec
from scrambler.spec.expressions import parse_expression

GROWTH = """  - id: wage-growth
    kind: compare
    reason: A wage grows by at most 40 a year.
    left: wage - previous(wage)
    op: "<="
    right: 40
  - id: wage-fall
    kind: compare
    reason: A wage falls by at most 60 a year.
    left: wage
    op: ">="
    right: previous(wage) - 60
"""


def _lag_spec(copy_spec, mini_dir: Path, rules: str = GROWTH) -> Path:  # type: ignore[no-untyped-def]
    spec_dir = copy_spec(mini_dir)
    (spec_dir / "rules.yaml").write_text((spec_dir / "rules.yaml").read_text() + rules)
    return spec_dir


def _changes(panel: Panel) -> np.ndarray:
    """Year-to-year wage changes wherever both years hold a wage (an independent reading of the rules)."""
    wage = panel.periodic["wage"]
    change = wage[1:] - wage[:-1]
    return np.round(change[~np.isnan(change)], 6)


def test_previous_parses_as_its_own_term() -> None:
    expr = parse_expression("wage - previous( wage ) + 2 years")
    assert [t.kind for t in expr.terms] == ["variable", "previous", "number"]
    assert expr.variables() == ("wage",) and expr.lagged() == ("wage",)
    for bad in ("previous(period)", "previous()", "previous(a.b)", "previous(x", "previous x"):
        with pytest.raises(ValueError):
            parse_expression(bad)


@pytest.mark.parametrize(("rule", "message"), [
    ("left: wage\n    op: \"<=\"\n    right: previous(sex) + 1", "previous(sex): sex is static"),
    ("left: wage\n    op: \"<=\"\n    right: previous(status) + 1", "previous(status) is categorical"),
    ("left: wage\n    op: \"<=\"\n    right: previous(salary) + 1", "previous(salary) names 'salary'"),
    ("left: previous(wage)\n    op: \"<=\"\n    right: 400", "must also read a variable at its own period"),
])
def test_validate_names_a_bad_previous(copy_spec, mini_dir, capsys, rule: str, message: str) -> None:
    from scrambler.cli.main import main

    spec_dir = _lag_spec(copy_spec, mini_dir, f"  - id: bad-lag\n    kind: compare\n    reason: test\n    {rule}\n")
    code = main(["validate", str(spec_dir)])  # in-process: the command's exit code and its printed errors
    out = "".join(capsys.readouterr())
    assert code == 1 and message in out and "bad-lag" in out and "Traceback" not in out, out


def test_check_reads_the_previous_period(copy_spec, mini_dir) -> None:
    spec = load_spec(_lag_spec(copy_spec, mini_dir))
    panel = generate_population(spec, 400, 3)
    assert check(spec, panel).violations == 0
    changes = _changes(panel)
    assert len(changes) > 100 and changes.max() <= 40 and changes.min() >= -60
    # plant: one person's wage jumps by 41 between two periods where both hold a wage
    wage = panel.periodic["wage"]
    t, r = np.argwhere(~np.isnan(wage[1:]) & ~np.isnan(wage[:-1]))[0]
    wage[t + 1, r] = wage[t, r] + 41
    results = {r.rule: r for r in check(spec, panel).results}
    assert results["wage-growth"].violations >= 1
    # the first period has no previous value, an absent period none either: the rule holds vacuously there
    first = Panel.empty(spec, 1)
    first.present[:] = True
    first.periodic["wage"][:, 0] = [500.0, np.nan, 10.0, 400.0]
    rule = next(x for x in compile_rules(spec) if x.id == "wage-growth")
    assert rule.is_valid(first.frame(0)).tolist() == [True]
    assert rule.is_valid(first.frame(2)).tolist() == [True]
    assert rule.is_valid(first.frame(3)).tolist() == [False]


def test_a_value_redrawn_between_two_periods_keeps_the_rule_at_both(copy_spec, mini_dir) -> None:
    """Coverage and the guard redraw a period whose next period is already drawn: the value is also the next
    period's previous(wage). Without the rule's view one period ahead, such a redraw broke it (a wage
    redrawn in 2020 under "at most 40 more than 2019" but not "at most 40 less than 2021")."""
    spec = load_spec(_lag_spec(copy_spec, mini_dir))
    panel = generate_population(spec, 600, 5)
    sampler = Sampler(spec, profile_models(panel, set()), draw_order(spec))
    assert {r.id for r in sampler.variable_rules["wage"].later_rules} >= {"wage-growth", "wage-fall"}
    t = 1
    rows = np.nonzero(panel.present[t] & panel.present[t + 1] & ~np.isnan(panel.periodic["wage"][t + 1]))[0]
    assert len(rows) > 50
    rng = np.random.default_rng(0)

    def scatter(var: str, tt: int, sub: np.ndarray, frame: object, rng: np.random.Generator):  # type: ignore[no-untyped-def]
        if var != "wage":
            return None
        return rng.uniform(10, 500, len(sub)), np.ones(len(sub), dtype=bool)  # wild proposals: rules decide

    sampler.draw_period(panel, t, rng, rows=rows, proposals=scatter)
    assert check(spec, panel).violations == 0
    assert _changes(panel).max() <= 40 and _changes(panel).min() >= -60


def test_view_ahead_bounds_agree_with_the_rule_one_period_later(copy_spec, mini_dir) -> None:
    spec = load_spec(_lag_spec(copy_spec, mini_dir))
    rule = next(r for r in compile_rules(spec) if r.id == "wage-growth")
    view = rule.ahead()
    assert view is not None and view.variables == ("wage",) and view.id == rule.id
    assert next(r for r in compile_rules(spec) if r.id == "worker-has-job").ahead() is None
    panel = Panel.empty(spec, 5)
    panel.present[:] = True
    panel.periodic["wage"][2] = [100.0, 100.0, np.nan, 250.5, 10.0]
    low, high = view.bounds("wage", panel.frame(1))
    assert np.allclose(low, [60.0, 60.0, -np.inf, 210.5, -30.0]) and np.isinf(high).all()
    for delta, expect in ((0.0, True), (-0.1, False)):
        trial = np.where(np.isfinite(low), low + delta, 0.0)
        panel.periodic["wage"][1] = trial
        ok = rule.is_valid(panel.frame(2))
        assert (ok[np.isfinite(low)] == expect).all(), (delta, ok)


def test_population_and_scramble_keep_a_rule_on_previous_values(copy_spec, mini_dir) -> None:
    spec = load_spec(_lag_spec(copy_spec, mini_dir))
    panel = generate_population(spec, 800, 2)
    result = scramble(spec, panel, 1200, 4)
    assert result.report.violations == 0
    assert check(spec, result.panel).violations == 0
    changes = _changes(result.panel)
    assert len(changes) > 200 and changes.max() <= 40 and changes.min() >= -60
