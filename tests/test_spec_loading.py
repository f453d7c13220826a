"""Spec loading: the shipped specs load; every kind of broken spec gives one SpecError naming where and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from scrambler.constraints.registry import kinds
from scrambler.errors import Issue, SpecError
from scrambler.spec import load_spec

MARKER = "pwned-marker"  # a file that a spec string would create if it were ever executed


def test_mini_fixture_loads_and_uses_every_rule_kind(mini_spec) -> None:
    assert mini_spec.name == "mini"
    # classify is exercised on its own spec in test_unseen.py (adding it here changed every mini-based test)
    assert {rule.kind for rule in mini_spec.rules} == {kind.name for kind in kinds()} - {"classify"}
    assert [name for name, _, _ in mini_spec.table_names()] == ["persons_2020", "persons_2021"]
    assert mini_spec.variables["age"].codes == ("15-19", "20-29", "30-49", "50-64")


def test_arbeidsreserve_loads(arbeidsreserve_dir: Path) -> None:
    spec = load_spec(arbeidsreserve_dir)
    assert spec.name == arbeidsreserve_dir.name
    assert spec.rules and spec.tables
    assert all(v.source for v in spec.variables.values())
    assert len({r.id for r in spec.rules}) == len(spec.rules)


def test_missing_spec_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "nowhere")
    assert [i.code for i in err.value.issues] == ["missing-spec"]


@dataclass(frozen=True)
class Case:
    """One way to break the mini spec, and the issue it must give."""

    name: str
    file: str  # the file (relative to the spec folder) to edit
    old: str  # text that occurs exactly once; "" appends ``new``
    new: str
    code: str
    where: str  # the issue's file ends with this
    rule: str | None = None
    variable: str | None = None
    message: tuple[str, ...] = ()

    def apply(self, root: Path, edit: Callable[[Path, str, str], None]) -> None:
        path = root / self.file
        if self.old:
            edit(path, self.old, self.new.replace("{root}", str(root)))
        else:
            path.write_text(path.read_text(encoding="utf-8") + self.new, encoding="utf-8")


CASES = [
    Case("unknown-variable-in-rule", "rules.yaml", "then: {job: {is: present}}", "then: {jobs: {is: present}}",
         "unknown-variable", "mini/rules.yaml", rule="worker-has-job", message=("'jobs'",)),
    Case("code-missing-from-codelist", "codelists/job.csv", "J4,Rare job,,0.5\n", "", "unknown-code",
         "mini/rules.yaml", rule="job-group", message=("'J4'", "job")),
    Case("minimum-above-maximum", "variables.yaml", "constraints: {minimum: 0, maximum: 500}",
         "constraints: {minimum: 600, maximum: 500}", "empty-domain", "mini/variables.yaml", variable="wage",
         message=("minimum 600", "maximum 500")),
    Case("missing-source", "variables.yaml",
         '{name: office, type: categorical, codelist: office, group: status, source: "fixture §3"}',
         "{name: office, type: categorical, codelist: office, group: status}", "missing-source",
         "mini/variables.yaml", variable="office", message=("source", "data minimisation")),
    Case("unknown-key-did-you-mean", "variables.yaml", "decimals: 1", "decimal: 1", "unknown-key",
         "mini/variables.yaml", variable="wage", message=("'decimal'", "did you mean 'decimals'")),
    Case("duplicate-code", "codelists/sex.csv", "", "F,Woman again,1\n", "codelist-duplicate-code",
         "mini/codelists/sex.csv", message=("'F'", "twice")),
    Case("unknown-rule-kind", "rules.yaml", "kind: mapping", "kind: maping", "unknown-kind", "mini/rules.yaml",
         rule="job-group", message=("'maping'", "mapping")),
    Case("expression-with-python", "rules.yaml", "    right: period\n",
         "    right: \"__import__('pathlib').Path('{root}/" + MARKER + "').touch()\"\n", "bad-rule",
         "mini/rules.yaml", rule="reg-before-period", message=("unexpected character '('",)),
    Case("expression-with-product", "rules.yaml", "    right: period\n", "    right: period * 2\n", "bad-rule",
         "mini/rules.yaml", rule="reg-before-period", message=("'*'", "period * 2")),
    Case("contradiction-same-condition", "rules.yaml", "",
         "  - id: worker-without-job\n    kind: implication\n    reason: Contradicts worker-has-job.\n"
         "    if: {status: {in: [W]}}\n    then: {job: {is: null}}\n", "contradiction", "mini/rules.yaml",
         rule="worker-has-job, worker-without-job", variable="job", message=("exclude each other",)),
    Case("contradiction-no-code-satisfies", "rules.yaml", "",
         "  - id: unemployed-stateless\n    kind: implication\n    reason: No nationality code is left.\n"
         "    if: {status: {in: [U]}}\n    then: {nationality: {not_in: [L, EU, O, ZZ]}}\n", "contradiction",
         "mini/rules.yaml", rule="unemployed-stateless", variable="nationality", message=("no code",)),
    Case("step-on-non-ordinal", "rules.yaml", "    variable: age\n", "    variable: status\n", "type-mismatch",
         "mini/rules.yaml", rule="age-step", message=("ordinal", "categorical")),
    Case("path-escapes-spec-folder", "rules.yaml",
         "    rows: [[N, A], [N, null], [S, B], [S, null], [E, B], [E, C], [E, null]]",
         "    allowed: ../../etc/passwd", "bad-path", "mini/rules.yaml", rule="office-of-region",
         message=("../../etc/passwd", "leaves the spec folder")),
    Case("groups-on-a-periodic-variable", "generator.yaml", "", "groups: {variable: status, sizes: {W: 1, U: 1}}\n",
         "bad-value", "mini/generator.yaml", variable="status", message=("static categorical",)),
    Case("groups-with-an-unknown-code", "generator.yaml", "", "groups: {variable: sex, sizes: {M: 1, Q: 1}}\n",
         "unknown-code", "mini/generator.yaml", variable="sex", message=("'Q'",)),
    Case("groups-with-a-zero-size", "generator.yaml", "", "groups: {variable: sex, sizes: {M: 1, F: 0}}\n",
         "bad-value", "mini/generator.yaml", variable="sex", message=("must be a number > 0",)),
]


def _only(issues: list[Issue], code: str) -> Issue:
    found = [i for i in issues if i.code == code]
    assert len(found) == 1, f"expected one {code} issue, got {[str(i) for i in issues]}"
    return found[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_broken_spec_is_refused(case: Case, copy_spec, edit, mini_dir: Path) -> None:
    root = copy_spec(mini_dir)
    case.apply(root, edit)
    with pytest.raises(SpecError) as err:
        load_spec(root)
    issue = _only(err.value.issues, case.code)
    assert issue.file is not None and issue.file.endswith(case.where)
    if case.rule is not None:
        assert issue.rule == case.rule
    if case.variable is not None:
        assert issue.variable == case.variable
    for part in case.message:
        assert part in issue.message
    text = str(err.value)  # the human report names the file and the rule or variable too
    assert case.where in text and (case.rule or case.variable or case.code) in text
    assert not (root / MARKER).exists()


def test_missing_codelist_file(copy_spec, mini_dir: Path) -> None:
    root = copy_spec(mini_dir)
    (root / "codelists" / "office.csv").unlink()
    with pytest.raises(SpecError) as err:
        load_spec(root)
    issue = _only(err.value.issues, "missing-codelist")
    assert issue.variable == "office"
    assert issue.file is not None and issue.file.endswith("mini/codelists/office.csv")


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_malformed_yaml_names_the_line(copy_spec, edit, mini_dir: Path) -> None:
    root = copy_spec(mini_dir)
    path = root / "dataset.yaml"
    edit(path, "  grain: year\n", "  grain: year: month\n")
    line = _line_of(path, "grain: year: month")
    with pytest.raises(SpecError) as err:
        load_spec(root)
    issue = _only(err.value.issues, "yaml-error")
    assert issue.file == "mini/dataset.yaml"
    assert f"line {line}," in issue.message


def test_duplicate_yaml_key_is_refused(copy_spec, edit, mini_dir: Path) -> None:
    root = copy_spec(mini_dir)
    path = root / "dataset.yaml"
    edit(path, 'deliberation: "test fixture"\n', 'deliberation: "test fixture"\ntitle: A second title\n')
    line = _line_of(path, "A second title")
    with pytest.raises(SpecError) as err:
        load_spec(root)
    issue = _only(err.value.issues, "yaml-error")
    assert issue.file == "mini/dataset.yaml"
    assert "duplicate key 'title'" in issue.message and f"line {line}," in issue.message


def test_yaml_python_tag_is_refused_not_run(copy_spec, edit, mini_dir: Path) -> None:
    root = copy_spec(mini_dir)
    marker = root / MARKER
    edit(root / "dataset.yaml", "title: A small dataset that uses every rule kind (test fixture)",
         f'title: !!python/object/apply:os.system ["touch {marker}"]')
    with pytest.raises(SpecError) as err:
        load_spec(root)
    issue = _only(err.value.issues, "yaml-error")
    assert issue.file == "mini/dataset.yaml"
    assert "python/object/apply" in issue.message
    assert not marker.exists()


def test_problems_in_several_files_come_in_one_error(copy_spec, edit, mini_dir: Path) -> None:
    root = copy_spec(mini_dir)
    for case in (CASES[0], CASES[2], CASES[3]):
        case.apply(root, edit)
    with pytest.raises(SpecError) as err:
        load_spec(root)
    assert {"unknown-variable", "empty-domain", "missing-source"} <= {i.code for i in err.value.issues}


# --- the issue's acceptance case -------------------------------------------------------------------------------

BROKEN_ARBEIDSRESERVE = [
    ("rules.yaml", "    then: {province: {is: null}}\n    source: \"domain-facts §7.26, §7.29\"",
     "    then: {provinse: {is: null}}\n    source: \"domain-facts §7.26, §7.29\""),
    ("rules.yaml", "if_previous: {in: [BE]}", "if_previous: {in: [BQ]}"),
    ("variables.yaml", "minimum: 1955, maximum: 2023", "minimum: 2030, maximum: 2023"),
]
EXPECTED = [  # code, rule or variable, a fragment of the message
    ("unknown-variable", "deceased-not-resident", "'provinse'"),
    ("unknown-code", "nationality-only-to-belgian", "'BQ'"),
    ("empty-domain", None, "minimum 2030"),
]


@pytest.fixture
def broken_arbeidsreserve(copy_spec, edit, arbeidsreserve_dir: Path) -> Path:
    root = copy_spec(arbeidsreserve_dir)
    for file, old, new in BROKEN_ARBEIDSRESERVE:
        edit(root / file, old, new)
    return root


def test_arbeidsreserve_broken_in_three_places_gives_one_error_naming_all(broken_arbeidsreserve: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(broken_arbeidsreserve)
    issues = err.value.issues
    for code, rule, fragment in EXPECTED:
        hits = [i for i in issues if i.code == code and fragment in i.message]
        assert len(hits) == 1, f"{code} {fragment}: {[str(i) for i in issues]}"
        if rule is not None:
            assert hits[0].rule == rule and hits[0].file == "arbeidsreserve-24-130/rules.yaml"
        else:
            assert hits[0].file == "arbeidsreserve-24-130/variables.yaml" and hits[0].variable
    assert len(issues) == 3, [str(i) for i in issues]


def test_validate_cli_reports_all_three_and_exits_1(broken_arbeidsreserve: Path, run_cli) -> None:
    result = run_cli("validate", broken_arbeidsreserve)
    assert result.returncode == 1
    for code, rule, fragment in EXPECTED:
        assert f"[{code}]" in result.stderr and fragment in result.stderr
        if rule is not None:
            assert f"rule {rule}" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_validate_cli_on_pristine_spec_prints_one_line(arbeidsreserve_dir: Path, run_cli) -> None:
    result = run_cli("validate", arbeidsreserve_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    spec = load_spec(arbeidsreserve_dir)
    assert lines[0].startswith(f"{spec.name}: valid - {len(spec.variables)} variables, {len(spec.rules)} rules")
