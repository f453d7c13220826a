"""The rule-kind registry: a new kind is one module (here: this test file) and works in every stage."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scrambler.check import check
from scrambler.cli.main import main
from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.checks import CheckContext
from scrambler.constraints.registry import (
    ParseContext,
    RuleKind,
    docs_block,
    kinds,
    need_variable,
    register_kind,
    unregister_kind,
)
from scrambler.errors import SpecError
from scrambler.population import generate_population
from scrambler.scramble import scramble
from scrambler.scramble.plan import compatibility_classes
from scrambler.spec import load_spec
from scrambler.spec.model import RuleSpec
from scrambler.spec.reader import code_text

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "fixtures" / "mini"


# ---- the toy kind: everything it needs, in one place --------------------------------------------------------


@dataclass(frozen=True)
class NeverSpec(RuleSpec):
    """A variable never takes one of the listed codes (null is fine)."""

    variable: str
    codes: tuple[str, ...]

    kind = "never"  # type: ignore[assignment]

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.variable,)


class Never(CompiledRule):
    def __init__(self, spec: NeverSpec, dataset: Any) -> None:
        super().__init__(spec, dataset)
        codes = dataset.variables[spec.variable].codes
        self.lut = np.zeros(len(codes) + 1, dtype=bool)  # last slot: null (index -1)
        self.lut[[codes.index(c) for c in spec.codes]] = True

    def _is_valid(self, frame: Frame) -> np.ndarray:
        return ~self.lut[frame[self.spec.variables[0]]]

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        return np.broadcast_to(~self.lut, (frame.n, n_codes + 1)).copy()


def parse_never(ctx: ParseContext, item: dict[str, Any]) -> NeverSpec:
    codes = item.get("codes")
    if not isinstance(codes, list) or not codes:
        raise ValueError("never needs a non-empty 'codes' list")
    return NeverSpec(**ctx.base, variable=need_variable(item, "never"), codes=tuple(code_text(c) for c in codes))


def check_never(ctx: CheckContext, rule: NeverSpec) -> None:
    for code in rule.codes:
        ctx.value(ctx.spec.variables[rule.variable], code)


def never_signature(rule: NeverSpec, name: str, codes: tuple[str, ...]) -> list[object]:
    return [(rule.id, c in rule.codes) for c in codes]


def never_kind(signature: bool = True) -> RuleKind:
    return RuleKind(spec=NeverSpec, runtime=Never, keys=("variable", "codes"), parse=parse_never, check=check_never,
                    signature=never_signature if signature else None, order=900,
                    doc="  - id: no-j1\n    kind: never\n    variable: job\n    codes: [J1]\n")


@pytest.fixture
def toy() -> Iterator[None]:
    register_kind(never_kind())
    yield
    unregister_kind("never")


def mini_with(tmp_path: Path, rule: str) -> Path:
    """A copy of the mini fixture with one more rule, and ``job`` recoded instead of swapped."""
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    with open(root / "rules.yaml", "a") as f:
        f.write(rule)
    dataset = root / "dataset.yaml"
    text = dataset.read_text()
    assert "variables: [job, wage]" in text
    dataset.write_text(text.replace("variables: [job, wage]", "variables: [wage]").replace(
        "    - variables: [region]\n      method: recode", "    - variables: [region, job]\n      method: recode"))
    return root


NEVER_J12 = "  - {id: no-j1-j2, kind: never, reason: toy rule, variable: job, codes: [J1, J2]}\n"


def test_toy_kind_works_in_every_stage(toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = mini_with(tmp_path, NEVER_J12)
    # validate
    assert main(["validate", str(root)]) == 0
    assert "never 1" in capsys.readouterr().out
    spec = load_spec(root)
    # population: the sampler honours the new rule (J1 and J2 are the two most frequent jobs in the generator)
    population = generate_population(spec, 150, seed=2)
    job_codes = spec.variables["job"].codes
    jobs = population.periodic["job"][population.present]
    assert np.isin(jobs, [job_codes.index("J3"), job_codes.index("J4"), -1]).all()
    assert (jobs >= 0).any()
    report = check(spec, population)
    assert report.ok
    assert any(r.rule == "no-j1-j2" and r.checked > 0 and r.violations == 0 for r in report.results)
    # check: a J1 slipped in is a violation of the toy rule, by its id
    t, i = np.argwhere(population.present & (population.periodic["job"] >= 0))[0]
    population.periodic["job"][t, i] = job_codes.index("J1")
    population.periodic["leave"][t, i] = spec.variables["leave"].codes.index("STD")  # J1's regime (mapping)
    broken = [r for r in check(spec, population).results if r.violations]
    assert [r.rule for r in broken] == ["no-j1-j2"]
    # scramble (job recoded): no J1/J2 and the output passes the independent check
    fresh = generate_population(spec, 150, seed=2)
    result = scramble(spec, fresh, 80, seed=3)
    out_jobs = result.panel.periodic["job"][result.panel.present]
    assert not np.isin(out_jobs, [job_codes.index("J1"), job_codes.index("J2")]).any()
    assert check(spec, result.panel).ok


def _classes(spec: Any, name: str) -> list[list[str]]:
    codes = spec.variables[name].codes
    return sorted(sorted(codes[i] for i in cls) for cls in compatibility_classes(spec, name))


def test_recode_uses_the_kinds_signature_and_keeps_codes_apart_without_one(tmp_path: Path) -> None:
    root = mini_with(tmp_path, NEVER_J12)
    # J1 and J2 map to the same leave regime and the toy rule treats them alike: one class
    register_kind(never_kind(signature=True))
    try:
        assert _classes(load_spec(root), "job") == [["J1", "J2"], ["J3"], ["J4"]]
        register_kind(never_kind(signature=False))  # a kind that does not say: every code stays apart
        assert _classes(load_spec(root), "job") == [["J1"], ["J2"], ["J3"], ["J4"]]
    finally:
        unregister_kind("never")


def test_toy_kind_checks_and_parser_errors_name_the_rule(toy: None, tmp_path: Path) -> None:
    bad_code = mini_with(tmp_path / "a", "  - {id: no-jx, kind: never, reason: toy, variable: job, codes: [JX]}\n")
    with pytest.raises(SpecError) as exc:
        load_spec(bad_code)
    assert [(i.code, i.rule) for i in exc.value.issues] == [("unknown-code", "no-jx")]
    bad_key = mini_with(tmp_path / "b", "  - {id: no-jy, kind: never, reason: toy, variable: job, code: [J1]}\n")
    with pytest.raises(SpecError) as exc:
        load_spec(bad_key)
    assert {(i.code, i.rule) for i in exc.value.issues} >= {("bad-rule", "no-jy")}


def test_unregistered_kind_is_refused_listing_the_registered_ones(tmp_path: Path) -> None:
    root = mini_with(tmp_path, NEVER_J12)
    with pytest.raises(SpecError) as exc:
        load_spec(root)
    (issue,) = exc.value.issues
    assert issue.code == "unknown-kind" and issue.rule == "no-j1-j2"
    assert all(kind.name in issue.message for kind in kinds())


def test_docs_show_every_kinds_snippet() -> None:
    """docs/spec-language.md's rules.yaml example is the registry's snippets, in order."""
    text = (ROOT / "docs" / "spec-language.md").read_text()
    assert "```yaml\n" + docs_block() + "```" in text
    for kind in kinds():
        assert f"kind: {kind.name}" in text


def test_a_dead_end_blames_the_rule_that_emptied_the_domain(toy: None, tmp_path: Path) -> None:
    """region has two rules (a combinations table with office, and the toy rule forbidding every code): the dead
    end names the toy rule only, with its row count, not every rule on the variable."""
    from scrambler.errors import UnsatisfiableError
    from scrambler.panel import Panel
    from scrambler.sampling import Sampler

    root = mini_with(tmp_path, "  - {id: no-region, kind: never, reason: toy, variable: region, codes: [N, S, E]}\n")
    spec = load_spec(root)
    panel = Panel.empty(spec, 20)
    panel.present[0] = True
    sampler = Sampler(spec, {}, max_redraws=2)
    with pytest.raises(UnsatisfiableError) as exc:
        sampler.draw_period(panel, 0, np.random.default_rng(1))
    (issue,) = [i for i in exc.value.issues if i.variable == "region"]
    # 20 rows, drawn once and redrawn until the redraws stall
    assert re.search(r"emptied by: no-region \((\d+) failed draws\)$", issue.message), issue.message
    assert int(re.findall(r"\d+", issue.message.split("emptied by:")[1])[0]) % 20 == 0
    assert "office-of-region" not in issue.message
