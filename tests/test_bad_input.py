"""Malformed specs and datasets, run through the CLI: each must fail cleanly (exit != 0, no traceback) with a
stable issue code and a location (file, variable, rule, table or row) in stderr/stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "fixtures" / "mini"
T20, T21 = "persons_2020", "persons_2021"


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "scrambler", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd or REPO, env=env)


def assert_clean_failure(proc: subprocess.CompletedProcess[str], fragments: tuple[str, ...]) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"exit 0 for bad input:\n{out}"
    assert proc.returncode == 1, f"exit {proc.returncode} (expected 1):\n{out}"
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in output:\n{out}"


def selected_ids(request: pytest.FixtureRequest, test_name: str) -> set[str]:
    return {item.callspec.id for item in request.session.items
            if getattr(item, "originalname", None) == test_name and hasattr(item, "callspec")}


POOL = ThreadPoolExecutor(max_workers=4)  # each case is still its own CLI subprocess; only the waiting overlaps


# ----------------------------------------------------------------------------------------------- spec edits


def load(root: Path, name: str) -> Any:
    return yaml.safe_load((root / name).read_text(encoding="utf-8"))


def dump(root: Path, name: str, doc: Any) -> None:
    (root / name).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def edit(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    """An edit of one YAML file of the spec: ``change(doc)`` mutates the document (or returns a new one)."""

    def apply(root: Path) -> None:
        doc = load(root, name)
        new = change(doc)
        dump(root, name, doc if new is None else new)

    return apply


def var(name: str, /, **fields: Any) -> Callable[[Path], None]:
    """Set (value) or delete (None) fields of a variable in variables.yaml."""

    def change(doc: dict[str, Any]) -> None:
        item = next(v for v in doc["variables"] if v["name"] == name)
        for key, value in fields.items():
            if value is None:
                item.pop(key, None)
            else:
                item[key] = value

    return edit("variables.yaml", change)


def constraint(name: str, **fields: Any) -> Callable[[Path], None]:
    def change(doc: dict[str, Any]) -> None:
        item = next(v for v in doc["variables"] if v["name"] == name)
        item.setdefault("constraints", {}).update(fields)

    return edit("variables.yaml", change)


def rule(rule_id: str, **fields: Any) -> Callable[[Path], None]:
    """Set (value) or delete (None) fields of a rule in rules.yaml."""

    def change(doc: dict[str, Any]) -> None:
        item = next(r for r in doc["rules"] if r["id"] == rule_id)
        for key, value in fields.items():
            if value is None:
                item.pop(key, None)
            else:
                item[key] = value

    return edit("rules.yaml", change)


def add_rule(**fields: Any) -> Callable[[Path], None]:
    return edit("rules.yaml", lambda doc: doc["rules"].append(fields))


def panel(**fields: Any) -> Callable[[Path], None]:
    return edit("dataset.yaml", lambda doc: doc["panel"].update(fields))


def text(name: str, content: str | bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return apply


def append(name: str, content: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        with (root / name).open("a", encoding="utf-8") as fh:
            fh.write(content)

    return apply


def delete(name: str) -> Callable[[Path], None]:
    return lambda root: (root / name).unlink()


def both(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        for e in edits:
            e(root)

    return apply


def _dup_variable(doc: dict[str, Any]) -> None:
    doc["variables"].append(dict(next(v for v in doc["variables"] if v["name"] == "sex")))


def _block(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return edit("dataset.yaml", lambda doc: change(doc["tables"][0]["blocks"][0]))


def _nested_not(levels: int) -> str:
    condition = "{not: " * levels + "{sex: {in: [M]}}" + "}" * levels
    return f"  - id: deep-not\n    kind: implication\n    reason: x\n    if: {condition}\n    then: {{sex: {{in: [M]}}}}\n"


def _alias_bomb(levels: int) -> str:
    """A "billion laughs": each level lists the previous one nine times (9**levels strings once expanded)."""
    lines = ["lol0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


SPEC_CASES = [
    # --- YAML syntax and structure
    pytest.param(text("dataset.yaml", "name: mini\ntables: [unclosed\n"), ("[yaml-error]", "dataset.yaml", "line"),
                 id="yaml-unclosed-bracket"),
    pytest.param(text("variables.yaml", "variables:\n  - name: sex\n\t type: boolean\n"),
                 ("[yaml-error]", "variables.yaml"), id="yaml-tab-indent"),
    pytest.param(text("rules.yaml", "- just\n- a list\n"), ("[yaml-structure]", "rules.yaml", "mapping"),
                 id="yaml-top-level-list"),
    pytest.param(append("dataset.yaml", "name: other\n"), ("[yaml-error]", "dataset.yaml", "duplicate key 'name'"),
                 id="yaml-duplicate-key"),
    pytest.param(text("dataset.yaml", b"name: mini\ntitle: \xff\xfe\n"), ("[encoding-error]", "dataset.yaml"),
                 id="yaml-not-utf8"),
    pytest.param(delete("dataset.yaml"), ("[missing-file]", "dataset.yaml"), id="missing-dataset-yaml"),
    pytest.param(delete("variables.yaml"), ("[missing-file]", "variables.yaml"), id="missing-variables-yaml"),
    # --- unknown keys, with a did-you-mean hint
    pytest.param(edit("dataset.yaml", lambda d: d.update(titel="x")),
                 ("[unknown-key]", "dataset.yaml", "'titel'", "did you mean 'title'"), id="unknown-key-dataset"),
    pytest.param(panel(grian="year"), ("[unknown-key]", "did you mean 'grain'"), id="unknown-key-panel"),
    pytest.param(var("office", codlist="office"),
                 ("[unknown-key]", "variable office", "did you mean 'codelist'"), id="unknown-key-variable"),
    pytest.param(constraint("sex", requird=True), ("[unknown-key]", "variable sex", "did you mean 'required'"),
                 id="unknown-key-constraint"),
    pytest.param(rule("worker-has-job", reasn="typo"), ("[unknown-key]", "rule worker-has-job",
                                                        "did you mean 'reason'"), id="unknown-key-rule"),
    pytest.param(_block(lambda b: b.update(sufix="_x")), ("[unknown-key]", "did you mean 'suffix'"),
                 id="unknown-key-block"),
    pytest.param(edit("generator.yaml", lambda d: d.update(weigths={})), ("[unknown-key]", "generator.yaml",
                                                                         "did you mean 'weights'"),
                 id="unknown-key-generator"),
    # --- wrong types and values
    pytest.param(var("wage", type="money"), ("[bad-type]", "variable wage", "'money'"), id="bad-variable-type"),
    pytest.param(var("wage", decimals="two"), ("[bad-value]", "variable wage", "decimals"), id="decimals-text"),
    pytest.param(constraint("sex", required="maybe"), ("[bad-value]", "variable sex", "required"),
                 id="required-not-bool"),
    pytest.param(constraint("reg_year", minimum="low"), ("[type-mismatch]", "variable reg_year", "minimum"),
                 id="minimum-text"),
    pytest.param(constraint("sex", minimum=1), ("[type-mismatch]", "variable sex", "minimum"),
                 id="minimum-on-categorical"),
    pytest.param(constraint("sex", enum="M"), ("[bad-value]", "variable sex", "enum must be a list"),
                 id="enum-not-list"),
    pytest.param(constraint("sex", pattern="(["), ("[bad-pattern]", "variable sex"), id="pattern-bad-regex"),
    pytest.param(var("sex", timing="sometimes"), ("[bad-value]", "variable sex", "timing"), id="timing-bad"),
    pytest.param(var("sex", name="Sex"), ("[bad-name]", "'Sex'"), id="variable-name-case"),
    pytest.param(var("wage", source=None), ("[missing-source]", "variable wage"), id="variable-no-source"),
    pytest.param(var("wage", codelist="job"), ("[type-mismatch]", "variable wage", "codelist"),
                 id="codelist-on-decimal"),
    pytest.param(var("office", codelist=None), ("[missing-codelist]", "variable office"),
                 id="categorical-without-codelist"),
    pytest.param(edit("variables.yaml", _dup_variable), ("[duplicate-variable]", "variable sex"),
                 id="duplicate-variable"),
    pytest.param(panel(grain="week"), ("[bad-value]", "dataset.yaml", "'week'"), id="panel-grain"),
    pytest.param(panel(start=2023), ("[bad-value]", "dataset.yaml", "after its end"), id="panel-start-after-end"),
    pytest.param(panel(reference_month=13), ("[bad-value]", "reference_month", "13"), id="panel-reference-month"),
    pytest.param(panel(presence="residence"), ("[unknown-variable]", "dataset.yaml", "'residence'"),
                 id="panel-presence-unknown"),
    pytest.param(panel(presence="sex"), ("[bad-value]", "variable sex", "presence"), id="panel-presence-static"),
    pytest.param(edit("dataset.yaml", lambda d: d.update(identifier="person_nr")),
                 ("[unknown-variable]", "dataset.yaml", "'person_nr'"), id="identifier-unknown"),
    pytest.param(edit("dataset.yaml", lambda d: d.update(identifier="reg_year")),
                 ("[type-mismatch]", "variable reg_year", "identifier"), id="identifier-wrong-type"),
    pytest.param(edit("dataset.yaml", lambda d: d["tables"][0].update(periods=[2020, 2030])),
                 ("[bad-value]", "table persons_{T}", "2030"), id="table-period-outside-panel"),
    pytest.param(_block(lambda b: b.update(offset="one")), ("[bad-value]", "table persons_{T}", "offset"),
                 id="block-offset-text"),
    pytest.param(_block(lambda b: b.update(groups=["person", "money"])),
                 ("[unknown-group]", "table persons_{T}", "'money'"), id="block-unknown-group"),
    pytest.param(edit("dataset.yaml", lambda d: d["tables"][0].update(periods=2020)),
                 ("[bad-value]", "table persons_{T}", "periods must be a list"), id="table-periods-not-list"),
    pytest.param(_block(lambda b: b.update(exclude="dead")), ("[bad-value]", "block exclude must be lists"),
                 id="block-exclude-not-list"),
    pytest.param(_block(lambda b: b.update(groups=[["person"]])), ("[bad-value]", "block groups must be lists"),
                 id="block-groups-nested"),
    pytest.param(edit("dataset.yaml", lambda d: d.update(identifier=["person_id"])),
                 ("[unknown-variable]", "identifier ['person_id']"), id="identifier-list"),
    pytest.param(panel(presence=["region"]), ("[unknown-variable]", "presence"), id="panel-presence-list"),
    pytest.param(var("sex", group=["person"]), ("[unknown-group]", "variable sex"), id="variable-group-list"),
    pytest.param(var("sex", codelist=["sex"]), ("[bad-codelist-name]", "variable sex"), id="codelist-name-list"),
    pytest.param(edit("dataset.yaml", lambda d: d["tables"].append(dict(d["tables"][0]))),
                 ("[duplicate-table]", "persons_{T}"), id="duplicate-table"),
    pytest.param(edit("dataset.yaml", lambda d: d["scramble"]["methods"][0].update(method="shuffle")),
                 ("[unknown-method]", "scramble.methods[0]", "'shuffle'"), id="scramble-unknown-method"),
    pytest.param(edit("dataset.yaml", lambda d: d["scramble"]["methods"].append(
        {"variables": ["job"], "method": "keep"})), ("[duplicate-method]", "'job'"), id="scramble-duplicate-method"),
    pytest.param(edit("dataset.yaml", lambda d: d["scramble"]["guard"].update(tolerance={"sex": 1})),
                 ("[type-mismatch]", "scramble.guard", "'sex'"), id="guard-tolerance-categorical"),
    pytest.param(edit("dataset.yaml", lambda d: d["scramble"]["guard"].update(tolerance={"wage": -1})),
                 ("[bad-value]", "scramble.guard", "'wage'", ">= 0"), id="guard-tolerance-negative"),
    pytest.param(edit("dataset.yaml", lambda d: d["scramble"]["guard"].update(combinations=[["sex", "wage"]])),
                 ("[type-mismatch]", "scramble.guard", "'wage'"), id="guard-combination-numeric"),
    # --- code lists
    pytest.param(delete("codelists/sex.csv"), ("[missing-codelist]", "codelists/sex.csv", "variable sex"),
                 id="codelist-file-missing"),
    pytest.param(var("sex", codelist="gender"), ("[missing-codelist]", "codelists/gender.csv"),
                 id="codelist-name-unknown"),
    pytest.param(append("codelists/region.csv", "S,South again,1\n"),
                 ("[codelist-duplicate-code]", "codelists/region.csv", "'S'", "row 5"), id="codelist-duplicate-code"),
    pytest.param(append("codelists/region.csv", ",No code,1\n"), ("[codelist-empty-code]", "codelists/region.csv"),
                 id="codelist-empty-code"),
    pytest.param(text("codelists/region.csv", "id,label_en\nN,North\n"), ("[codelist-no-code]", "region.csv"),
                 id="codelist-no-code-column"),
    pytest.param(text("codelists/office.csv", "code,label_en\n"), ("[empty-codelist]", "variable office"),
                 id="codelist-empty"),
    pytest.param(append("codelists/region.csv", "W,West,heavy\n"), ("[codelist-bad-weight]", "'heavy'", "'W'"),
                 id="codelist-weight-text"),
    pytest.param(append("codelists/region.csv", "W,West,-3\n"), ("[codelist-bad-weight]", "'W'", ">= 0"),
                 id="codelist-weight-negative"),
    pytest.param(append("codelists/region.csv", "W,West,1,extra\n"), ("[csv-ragged]", "region.csv", "row 5"),
                 id="codelist-ragged-row"),
    pytest.param(text("codelists/sex.csv", b"code,label_en\nM,Man\nF,\xe9\xff\n"), ("[encoding-error]", "sex.csv"),
                 id="codelist-not-utf8"),
    pytest.param(text("codelists/sex.csv", "code,code\nM,M\n"), ("[csv-duplicate-column]", "sex.csv"),
                 id="codelist-duplicate-column"),
    pytest.param(text("codelists/sex.csv", ""), ("[csv-empty]", "sex.csv"), id="codelist-zero-bytes"),
    pytest.param(constraint("sex", enum=["M", "X"]), ("[unknown-code]", "variable sex", "'X'"),
                 id="enum-code-not-in-list"),
    pytest.param(edit("generator.yaml", lambda d: d.update(weights=[1, 2])),
                 ("[bad-value]", "generator.yaml", "weights must be a mapping"), id="generator-weights-list"),
    pytest.param(edit("generator.yaml", lambda d: d["numeric"]["wage"].update(values=["low", "high"])),
                 ("[bad-value]", "generator.yaml", "numeric[wage]"), id="generator-numeric-text"),
    pytest.param(edit("generator.yaml", lambda d: d["dynamics"].update(death=[0.01])),
                 ("[bad-value]", "dynamics.death must be a mapping"), id="generator-death-list"),
    pytest.param(edit("generator.yaml", lambda d: d["dynamics"].update(entries={"share": 0.1})),
                 ("[bad-value]", "dynamics.entries must be a list"), id="generator-entries-mapping"),
    pytest.param(edit("generator.yaml", lambda d: d["weights"]["region"].update(W=3)),
                 ("[unknown-code]", "generator.yaml", "'W'"), id="generator-weight-unknown-code"),
    # --- rules
    pytest.param(rule("worker-has-job", kind="implies"), ("[unknown-kind]", "rule worker-has-job", "'implies'"),
                 id="rule-unknown-kind"),
    pytest.param(add_rule(id="worker-has-job", kind="constant", reason="again", variable="sex"),
                 ("[duplicate-rule]", "rule worker-has-job"), id="rule-duplicate-id"),
    pytest.param(rule("worker-has-job", reason=None), ("[missing-reason]", "rule worker-has-job"),
                 id="rule-missing-reason"),
    pytest.param(add_rule(kind="constant", reason="no id", variable="sex"), ("[missing-key]", "needs an 'id'"),
                 id="rule-missing-id"),
    pytest.param(rule("worker-has-job", then={"salary": {"is": "present"}}),
                 ("[unknown-variable]", "rule worker-has-job", "'salary'"), id="rule-unknown-variable"),
    pytest.param(rule("worker-has-job", **{"if": {"status": {"in": ["Q"]}}}),
                 ("[unknown-code]", "rule worker-has-job", "'Q'"), id="rule-unknown-code"),
    pytest.param(rule("worker-has-job", then=None), ("[bad-rule]", "rule worker-has-job", "'then'"),
                 id="implication-without-then"),
    pytest.param(rule("reg-before-period", op="=>"), ("[bad-rule]", "rule reg-before-period", "'=>'"),
                 id="compare-bad-op"),
    pytest.param(rule("reg-before-period", right="period +"), ("[bad-rule]", "rule reg-before-period",
                                                               "ends with an operator"), id="compare-dangling-op"),
    pytest.param(rule("reg-after-birth", right="period - age.age_mid"),
                 ("[unknown-attribute]", "rule reg-after-birth", "age.age_mid"), id="compare-unknown-attribute"),
    pytest.param(rule("reg-before-period", left="sex"), ("[type-mismatch]", "rule reg-before-period", "sex"),
                 id="compare-categorical"),
    pytest.param(rule("age-step", variable="sex"), ("rule age-step", "sex"), id="step-on-categorical"),
    pytest.param(rule("age-step", min=2, max=1), ("[bad-rule]", "rule age-step", "min <= max"),
                 id="step-min-above-max"),
    pytest.param(rule("dead-absorbing", values=[]), ("[bad-rule]", "rule dead-absorbing", "values"),
                 id="absorbing-empty-values"),
    pytest.param(rule("office-of-region", rows=None, allowed="codelists/nothing.csv"),
                 ("[missing-file]", "codelists/nothing.csv", "rule office-of-region"),
                 id="combinations-file-missing"),
    pytest.param(rule("office-of-region", rows=[["N", "A"], ["S"]]), ("[bad-rule]", "rule office-of-region",
                                                                      "2 values"), id="combinations-short-row"),
    pytest.param(rule("office-of-region", rows=[["N", "A"], ["Q", "B"]]),
                 ("[unknown-code]", "rule office-of-region", "'Q'"), id="combinations-unknown-code"),
    pytest.param(rule("job-group", to_column="regime"), ("[bad-rule]", "rule job-group", "'regime'"),
                 id="mapping-missing-column"),
    pytest.param(append("codelists/job_leave.csv", "J1,MAT\n"), ("[bad-rule]", "rule job-group", "'J1'",
                                                                 "two values"), id="mapping-ambiguous"),
    # --- contradictions and empty domains
    pytest.param(add_rule(id="worker-no-job", kind="implication", reason="contradicts worker-has-job",
                          **{"if": {"status": {"in": ["W"]}}, "then": {"job": {"is": None}}}),
                 ("[contradiction]", "worker-has-job", "worker-no-job", "variable job"),
                 id="contradicting-implications"),
    pytest.param(rule("retired-old", then={"age": {"in": ["50-64"], "not_in": ["50-64"]}}),
                 ("[bad-rule]", "rule retired-old", "cannot be combined"), id="test-with-two-keys"),
    pytest.param(constraint("sex", enum=["M"], forbidden=["M"]), ("[empty-domain]", "variable sex"),
                 id="empty-domain-enum-forbidden"),
    pytest.param(constraint("wage", minimum=100, maximum=50), ("[empty-domain]", "variable wage"),
                 id="empty-domain-min-above-max"),
    pytest.param(both(constraint("age", enum=["15-19"]), rule("retired-old", then={"age": {"in": ["50-64"]}})),
                 ("[contradiction]", "rule retired-old", "variable age"), id="contradiction-with-enum"),
    # --- hostile files: limits instead of RecursionError / MemoryError (issue 11)
    pytest.param(append("rules.yaml", _nested_not(3000)),
                 ("[yaml-error]", "rules.yaml", "line", "nested deeper than 100 levels"), id="nested-not-3000"),
    pytest.param(append("rules.yaml", _nested_not(25)),
                 ("[bad-rule]", "rules.yaml", "rule deep-not", "deeper than 20 levels"), id="nested-not-25"),
    pytest.param(append("generator.yaml", _alias_bomb(9)),
                 ("[yaml-error]", "generator.yaml", "(line ", "aliases expand the document to more than"),
                 id="yaml-alias-bomb"),
]


@pytest.fixture(scope="module")
def spec_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    """Build every selected broken spec, then run ``validate`` on each (concurrently, one subprocess each)."""
    wanted = selected_ids(request, "test_bad_spec")
    runs = {}
    for case in SPEC_CASES:
        if case.id not in wanted:
            continue
        root = tmp_path_factory.mktemp("spec") / "mini"
        shutil.copytree(MINI, root)
        case.values[0](root)
        runs[case.id] = POOL.submit(run_cli, "validate", root)
    return runs


@pytest.mark.parametrize("change, fragments", SPEC_CASES)
def test_bad_spec(request: pytest.FixtureRequest, spec_runs: dict[str, Future[subprocess.CompletedProcess[str]]],
                  change: Callable[[Path], None], fragments: tuple[str, ...]) -> None:
    proc = spec_runs[request.node.callspec.id].result()
    assert_clean_failure(proc, fragments)
    assert "valid -" not in proc.stdout


def test_spec_folder_missing(tmp_path: Path) -> None:
    assert_clean_failure(run_cli("validate", tmp_path / "nowhere"), ("[missing-spec]", "nowhere"))


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    """One run lists every problem of a spec, not just the first."""
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    for change in (var("wage", type="money"), rule("worker-has-job", kind="implies"), panel(grian="year")):
        change(root)
    assert_clean_failure(run_cli("validate", root), ("[bad-type]", "[unknown-kind]", "[unknown-key]"))


# ----------------------------------------------------------------------------------------------- data edits


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop") / "pop"
    proc = run_cli("population", MINI, "--persons", "120", "--out", out, "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    return out


def table_edit(name: str, change: Callable[[pa.Table], pa.Table]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / f"{name}.parquet"
        pq.write_table(change(pq.read_table(path)), path)

    return apply


def set_column(column: str, array: Callable[[pa.Table], pa.Array]) -> Callable[[pa.Table], pa.Table]:
    def change(table: pa.Table) -> pa.Table:
        new = array(table)
        return table.set_column(table.column_names.index(column), pa.field(column, new.type), new)

    return change


def set_row(column: str, row: int, value: Any, typ: pa.DataType | None = None) -> Callable[[pa.Table], pa.Table]:
    """Set one cell; categorical columns are rewritten as plain strings (a valid input form)."""

    def array(table: pa.Table) -> pa.Array:
        values = table.column(column).to_pylist()
        col_type = typ or table.schema.field(column).type
        if pa.types.is_dictionary(col_type):
            col_type = pa.string()
        if pa.types.is_string(col_type):
            values = [None if v is None else str(v) for v in values]
        values[row] = value
        return pa.array(values, type=col_type)

    return set_column(column, array)


def first_row(table: pa.Table, **where: Any) -> int:
    for i, row in enumerate(table.select(list(where)).to_pylist()):
        if all(row[k] == v for k, v in where.items()):
            return i
    raise AssertionError(f"no row with {where}")


def set_where(column: str, value: Any, **where: Any) -> Callable[[pa.Table], pa.Table]:
    return lambda table: set_row(column, first_row(table, **where), value)(table)


def constant(column: str, array: Callable[[int], pa.Array]) -> Callable[[pa.Table], pa.Table]:
    return set_column(column, lambda t: array(t.num_rows))


def _duplicate_first(table: pa.Table) -> pa.Table:
    return pa.concat_tables([table, table.slice(0, 1)])


def _clear(folder: Path) -> None:
    for path in folder.glob("*.parquet"):
        path.unlink()


def _tables(change: Callable[[pa.Table], pa.Table]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        for path in folder.glob("*.parquet"):
            pq.write_table(change(pq.read_table(path)), path)

    return apply


# (edit of a copy of the population, expected fragments, structural: scramble must refuse it too)
DATA_CASES = [
    pytest.param(table_edit(T20, lambda t: t.drop_columns(["wage"])),
                 ("[missing-column]", f"table {T20}", "variable wage"), True, id="missing-column"),
    pytest.param(table_edit(T20, lambda t: t.drop_columns(["person_id"])),
                 ("[missing-column]", f"table {T20}", "variable person_id"), True, id="missing-identifier-column"),
    pytest.param(table_edit(T21, lambda t: t.append_column("salary", pa.array([1.0] * t.num_rows))),
                 ("[unexpected-column]", f"table {T21}", "variable salary"), True, id="extra-column"),
    pytest.param(table_edit(T20, set_column("wage", lambda t: pc.cast(t.column("wage"), pa.string()))),
                 ("[type-error]", f"table {T20}", "variable wage", "text"), True, id="decimal-as-text"),
    pytest.param(table_edit(T20, constant("wage", lambda n: pa.array([[1.0]] * n))),
                 ("[type-error]", f"table {T20}", "variable wage", "list<"), True, id="decimal-as-list"),
    pytest.param(table_edit(T20, constant("sex", lambda n: pa.array([["M"]] * n))),
                 ("[type-error]", f"table {T20}", "variable sex", "list<"), True, id="categorical-as-list"),
    pytest.param(table_edit(T20, constant("sex", lambda n: pa.array([b"\xff"] * n))),
                 ("[type-error]", f"table {T20}", "variable sex", "binary"), True, id="categorical-invalid-utf8"),
    pytest.param(table_edit(T20, constant("reg_year", lambda n: pa.array([0] * n, pa.date32()))),
                 ("[type-error]", "variable reg_year", "date32"), True, id="year-as-date"),
    pytest.param(table_edit(T20, constant("reg_year", lambda n: pa.array([2**62] * n))),
                 ("[type-error]", "variable reg_year"), True, id="year-out-of-range"),
    pytest.param(table_edit(T20, set_row("reg_year", 0, 2001.5, pa.float64())),
                 ("[type-error]", f"table {T20}", "variable reg_year", "whole numbers", "row id"), True,
                 id="year-with-fraction"),
    pytest.param(table_edit(T20, set_row("since", 0, "2020-13", pa.string())),
                 ("[type-error]", "variable since", "year_month", "row id"), True, id="year-month-bad-text"),
    pytest.param(table_edit(T20, set_column("person_id", lambda t: pc.cast(t.column("person_id"), pa.string()))),
                 ("[type-error]", f"table {T20}", "variable person_id"), True, id="identifier-as-text"),
    pytest.param(table_edit(T20, set_row("person_id", 0, -5, pa.int64())),
                 ("[type-error]", f"table {T20}", "variable person_id", "positive"), True, id="identifier-negative"),
    pytest.param(table_edit(T20, set_row("person_id", 0, None, pa.int64())),
                 ("[type-error]", f"table {T20}", "variable person_id"), True, id="identifier-null"),
    pytest.param(table_edit(T20, set_row("sex", 3, "Q")),
                 ("[unknown-code]", f"table {T20}", "variable sex", "Q", "row id"), True, id="code-outside-list"),
    pytest.param(table_edit(T21, set_row("region_next", 0, "West")),
                 ("[unknown-code]", f"table {T21}", "variable region_next", "West"), True,
                 id="code-outside-list-next-block"),
    pytest.param(table_edit(T20, set_row("student", 0, "perhaps", pa.string())),
                 ("[unknown-code]", "variable student", "perhaps"), True, id="boolean-bad-text"),
    pytest.param(table_edit(T20, set_where("region_next", "E", region_next="N")),
                 ("[consistency-error]", f"table {T21}", "variable region", "row id"), True, id="blocks-disagree"),
    pytest.param(table_edit(T20, _duplicate_first),
                 ("[unique-error]", f"table {T20}", "variable person_id", "id "), True, id="duplicate-ids"),
    pytest.param(delete(f"{T21}.parquet"), ("[missing-table]", f"table {T21}"), True, id="table-missing"),
    pytest.param(lambda f: shutil.copy(f / f"{T20}.parquet", f / "persons_2019.parquet"),
                 ("[unexpected-table]", "table persons_2019"), True, id="table-unexpected"),
    pytest.param(text(f"{T20}.parquet", "person_id,sex\n1,M\n"), ("[unreadable-file]", f"{T20}.parquet"), True,
                 id="csv-named-parquet"),
    pytest.param(text(f"{T21}.parquet", b""), ("[unreadable-file]", f"{T21}.parquet"), True,
                 id="empty-parquet-file"),
    pytest.param(_clear, ("[missing-data]", "no .parquet"), True, id="empty-folder"),
    pytest.param(lambda f: shutil.rmtree(f), ("[missing-data]", "does not exist"), True, id="folder-missing"),
    pytest.param(lambda f: (shutil.rmtree(f), f.write_text("x")), ("[missing-data]", "not a folder"), True,
                 id="folder-is-a-file"),
    # constraint violations: check reports them; scramble may repair them (tested below)
    pytest.param(table_edit(T20, set_row("nationality", 0, None)),
                 ("[constraint-error]", "domain:nationality", "1 of"), False, id="null-where-required"),
    pytest.param(table_edit(T20, set_row("wage", 0, 9999.0)), ("[constraint-error]", "domain:wage", "wage=9999"),
                 False, id="value-above-maximum"),
    pytest.param(table_edit(T20, set_where("age", "15-19", status="R")),
                 ("[relation-error]", "rule retired-old", "status=R", "age=15-19"), False, id="violates-implication"),
    pytest.param(table_edit(T20, set_where("office", "C", region="N")),
                 ("[relation-error]", "rule office-of-region", "region=N", "office=C"), False,
                 id="violates-combinations"),
    pytest.param(table_edit(T20, set_where("leave", "MAT", job="J1")),
                 ("[relation-error]", "rule job-group", "job=J1"), False, id="violates-mapping"),
    pytest.param(table_edit(T20, set_row("reg_year", 0, 2021, pa.int64())),
                 ("[relation-error]", "rule reg-before-period", "reg_year=2021"), False, id="violates-compare"),
    pytest.param(table_edit(T20, constant("age", lambda n: pa.array(["50-64"] * n))),
                 ("[temporal-error]", "rule age-step"), False, id="violates-step"),
]
# scramble reads its input through the same decoder as check: a representative subset keeps the run short
SCRAMBLE_IDS = {"missing-column", "extra-column", "decimal-as-list", "code-outside-list", "blocks-disagree",
                "duplicate-ids", "table-missing", "csv-named-parquet", "empty-folder", "identifier-null"}
STRUCTURAL = [case for case in DATA_CASES if case.values[2] and case.id in SCRAMBLE_IDS]


def _data_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, population: Path,
               test_name: str, cases: list[Any], command: Callable[[Path, Path], list[str | Path]]
               ) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    wanted = selected_ids(request, test_name)
    runs = {}
    for case in cases:
        if case.id not in wanted:
            continue
        base = tmp_path_factory.mktemp("data")
        shutil.copytree(population, base / "data")
        case.values[0](base / "data")
        runs[case.id] = POOL.submit(run_cli, *command(base / "data", base / "out"))
    return runs


@pytest.fixture(scope="module")
def check_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, population: Path
               ) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    return _data_runs(request, tmp_path_factory, population, "test_bad_data_check", DATA_CASES,
                      lambda data, out: ["check", MINI, data])


@pytest.fixture(scope="module")
def scramble_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, population: Path
                  ) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    return _data_runs(request, tmp_path_factory, population, "test_bad_data_scramble", STRUCTURAL,
                      lambda data, out: ["scramble", MINI, "--input", data, "--out", out, "--persons", "30",
                                         "--seed", "1"])


@pytest.mark.parametrize("change, fragments, structural", DATA_CASES)
def test_bad_data_check(request: pytest.FixtureRequest, check_runs: dict[str, Any], change: Any,
                        fragments: tuple[str, ...], structural: bool) -> None:
    proc = check_runs[request.node.callspec.id].result()
    assert_clean_failure(proc, fragments)
    assert " 0 violations" not in proc.stdout


@pytest.mark.parametrize("change, fragments, structural", STRUCTURAL)
def test_bad_data_scramble(request: pytest.FixtureRequest, scramble_runs: dict[str, Any], change: Any,
                           fragments: tuple[str, ...], structural: bool) -> None:
    proc = scramble_runs[request.node.callspec.id].result()
    assert_clean_failure(proc, fragments)
    assert "scrambler scramble: error" in proc.stderr


# ------------------------------------------------------------------------- degenerate but well-formed inputs


def _single_person(table: pa.Table) -> pa.Table:
    return table.slice(0, 1)


def _identical(folder: Path) -> None:
    """Every person is a copy of one person present in both tables (new ids 1..40)."""
    t20, t21 = (pq.read_table(folder / f"{n}.parquet") for n in (T20, T21))
    pid = sorted(set(t20.column("person_id").to_pylist()) & set(t21.column("person_id").to_pylist()))[0]
    for name, table in ((T20, t20), (T21, t21)):
        row = table.filter(pc.equal(table.column("person_id"), pid))
        many = pa.concat_tables([row] * 40)
        many = many.set_column(0, many.schema.field(0), pa.array(range(1, 41), pa.int64()))
        pq.write_table(many, folder / f"{name}.parquet")


EDGE_CASES = [
    pytest.param(_tables(_single_person), id="single-person"),
    pytest.param(_identical, id="all-persons-identical"),
    pytest.param(table_edit(T20, set_where("age", "15-19", status="R")), id="violating-input"),
    pytest.param(table_edit(T20, set_row("nationality", 0, None)), id="null-where-required"),
    pytest.param(_tables(lambda t: t.slice(0, 0)), id="no-rows"),
]


@pytest.mark.parametrize("change", EDGE_CASES)
def test_degenerate_input(tmp_path: Path, population: Path, change: Callable[[Path], None]) -> None:
    """check always reports (its summary line, exit 0/1); scramble either refuses cleanly or writes output that
    passes check."""
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(population, data)
    change(data)
    checked = run_cli("check", MINI, data)
    assert checked.returncode in (0, 1) and "Traceback" not in checked.stderr, checked.stderr
    assert "violations" in checked.stdout, checked.stdout + checked.stderr
    scrambled = run_cli("scramble", MINI, "--input", data, "--out", out, "--persons", "25", "--seed", "3")
    assert "Traceback" not in scrambled.stderr, scrambled.stderr
    if scrambled.returncode == 0:
        assert out.is_dir()
        result = run_cli("check", MINI, out)
        assert result.returncode == 0, result.stdout + result.stderr
        assert " 0 violations" in result.stdout
    else:
        assert scrambled.returncode == 1
        assert "scrambler scramble: error" in scrambled.stderr and "[" in scrambled.stderr
        assert not out.exists()


def test_source_identifiers_unreadable(tmp_path: Path, population: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(population, data)
    (data / "source" / "identifiers.parquet").write_text("not parquet")
    # scrambling never reads the national numbers, so a broken file of them does not stop it
    proc = run_cli("scramble", MINI, "--input", data, "--out", tmp_path / "scrambled", "--persons", "10")
    assert proc.returncode == 0, proc.stderr  # the reports read the input again, without them too
    assert not (tmp_path / "scrambled" / "source").exists()
    # the phase-1 sample carries them along, so it must read them: a clean failure
    proc = run_cli("sample", data, "--spec", MINI, "--persons", "10", "--out", tmp_path / "out")
    assert_clean_failure(proc, ("[unreadable-file]", "source/identifiers.parquet"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("persons", ["0", "-3"])
def test_bad_person_count(tmp_path: Path, population: Path, persons: str) -> None:
    proc = run_cli("scramble", MINI, "--input", population, "--out", tmp_path / "out", "--persons", persons)
    assert_clean_failure(proc, ("[bad-argument]", "--persons"))
    proc = run_cli("sample", population, "--spec", MINI, "--persons", persons, "--out", tmp_path / "out")
    assert_clean_failure(proc, ("[bad-argument]",))
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- contradictions along chains; verified outputs

# The two specs of issue 11, rebuilt on the mini fixture. On the old main both passed validate, and population
# wrote 300 persons without a single worker (status W) and without a single job: silently dropped, exit 0.
CHAIN = both(
    add_rule(id="workers-on-leave", kind="implication", reason="if A then B",
             **{"if": {"status": {"in": ["W"]}}, "then": {"leave": {"in": ["MAT"]}}}),
    # maternity-women (if leave MAT then sex F) is B -> C; this one is C -> not A
    add_rule(id="women-not-working", kind="implication", reason="C excludes A's premise",
             **{"if": {"sex": {"in": ["F"]}}, "then": {"status": {"not_in": ["W"]}}}))
CYCLE = add_rule(id="since-after-end", kind="compare", reason="with since-before-end: a <= b and a > b",
                 left="since", op=">", right="period_end")
CHAIN_FRAGMENTS = ("[contradiction]", "rule workers-on-leave, maternity-women, women-not-working",
                   "variable status", "status in ['W'] can never hold")
CYCLE_FRAGMENTS = ("[contradiction]", "since-after-end", "since-before-end", "cycle", "since > period_end")


@pytest.mark.parametrize("change, fragments", [pytest.param(CHAIN, CHAIN_FRAGMENTS, id="chain"),
                                               pytest.param(CYCLE, CYCLE_FRAGMENTS, id="compare-cycle")])
def test_chain_contradictions_refused(tmp_path: Path, change: Callable[[Path], None],
                                      fragments: tuple[str, ...]) -> None:
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    change(root)
    assert_clean_failure(run_cli("validate", root), fragments)
    assert_clean_failure(run_cli("population", root, "--persons", "50", "--out", tmp_path / "out"), fragments)
    assert not (tmp_path / "out").exists()


def test_chain_check_is_not_fooled_by_a_premise_that_only_narrows(tmp_path: Path) -> None:
    """Negative control: the same chain without its closing rule is consistent (W workers take MAT leave, so
    they are women): validate accepts it."""
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    add_rule(id="workers-on-leave", kind="implication", reason="if A then B",
             **{"if": {"status": {"in": ["W"]}}, "then": {"sex": {"in": ["F"]}}})(root)
    proc = run_cli("validate", root)
    assert proc.returncode == 0 and "valid -" in proc.stdout, proc.stdout + proc.stderr


def test_population_verifies_before_publishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """population runs the same independent check as scramble on the written tables and publishes nothing when
    a rule is broken (here a generator fault is simulated: one registration year after the reference year)."""
    from scrambler.cli import main as cli_main
    from scrambler.cli import population as population_cli

    real = population_cli.generate_population

    def faulty(*args: Any, **kwargs: Any) -> Any:
        panel = real(*args, **kwargs)
        panel.static["reg_year"][0] = 2030
        return panel

    monkeypatch.setattr(population_cli, "generate_population", faulty)
    out = tmp_path / "out"
    assert cli_main.main(["population", str(MINI), "--persons", "40", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "[check-failed]" in err and "nothing was published" in err
    assert "rule reg-before-period" in err and "domain:reg_year" in err
    assert list(tmp_path.iterdir()) == []


def test_sample_verifies_before_publishing(tmp_path: Path, population: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(population, data)
    table_edit(T20, set_where("age", "15-19", status="R"))(data)
    proc = run_cli("sample", data, "--spec", MINI, "--persons", "120", "--out", tmp_path / "out")  # everyone
    assert_clean_failure(proc, ("[check-failed]", "rule retired-old", "nothing was published"))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------- bad numbers, resources, paths (issue 11, item 5)


def _shared_person_row(folder: Path) -> int:
    """A row of persons_2020 whose person also appears in persons_2021."""
    t20, t21 = (pq.read_table(folder / f"{n}.parquet", columns=["person_id"]) for n in (T20, T21))
    later = set(t21.column("person_id").to_pylist())
    return next(i for i, pid in enumerate(t20.column("person_id").to_pylist()) if pid in later)


def test_required_static_null_reported_where_it_is(tmp_path: Path, population: Path) -> None:
    """sex (static, required) null in persons_2020 for a person also in persons_2021: one required-null error
    in persons_2020, not a consistency error in persons_2021."""
    data = tmp_path / "data"
    shutil.copytree(population, data)
    table_edit(T20, lambda t: set_row("sex", _shared_person_row(data), None)(t))(data)
    proc = run_cli("check", MINI, data)
    assert_clean_failure(proc, ("[required-null]", f"table {T20}", "variable sex", "row id"))
    assert "consistency-error" not in proc.stdout + proc.stderr
    assert T21 not in proc.stdout


def _in_pool(*commands: list[str | Path]) -> list[subprocess.CompletedProcess[str]]:
    return [f.result() for f in [POOL.submit(run_cli, *c) for c in commands]]


def test_bad_numbers(tmp_path: Path, population: Path) -> None:
    out = tmp_path / "out"
    scramble = ["scramble", MINI, "--input", population, "--out", out]
    cases: list[tuple[list[str | Path], tuple[str, ...]]] = [
        (["population", MINI, "--persons", "10", "--out", out, "--seed", "-1"], ("[bad-argument]", "--seed must be at least 0")),
        ([*scramble, "--persons", "10", "--seed", "-1"], ("[bad-argument]", "--seed must be at least 0, got -1")),
        (["sample", population, "--spec", MINI, "--persons", "5", "--out", out, "--seed", "-1"], ("--seed",)),
        ([*scramble, "--persons", "10", "--k", "0"], ("[bad-argument]", "--k must be at least 1, got 0")),
        ([*scramble, "--persons", "10", "--k", "-3"], ("[bad-argument]", "--k must be at least 1, got -3")),
        (["population", MINI, "--persons", "1e9", "--out", out], ("[too-big]", "--persons 1,000,000,000", "GB",
                                                                   "available")),
        ([*scramble, "--persons", "1e9"], ("[too-big]", "GB", "--engine dask")),
    ]
    for (command, fragments), proc in zip(cases, _in_pool(*(c for c, _ in cases)), strict=True):
        assert_clean_failure(proc, (*fragments, str(command[0])))
    assert not out.exists()


def test_memory_cap_refused_before_the_run(tmp_path: Path) -> None:
    """Under a 1 GB address-space cap (ulimit -v) a million persons cannot fit: refused with the figures before
    any work, where the run used to die with MemoryError or std::bad_alloc; a small run still works."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    # an allocator chosen by an uncapped parent (jemalloc) is inherited: it made 1 run in 3 die under the cap
    env = {**os.environ, "PYTHONPATH": str(REPO), "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}

    def capped(persons: str, out: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "scrambler", "population", str(MINI), "--persons", persons,
                                 "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=REPO, env=env, preexec_fn=cap)

    def ended(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    proc = ended(capped("1000000", tmp_path / "big"))
    assert_clean_failure(proc, ("[too-big]", "--persons 1,000,000", "GB"))
    assert list(tmp_path.iterdir()) == []
    smalls = [capped("50", tmp_path / f"small{i}") for i in range(4)]  # side by side: 4 chances to die
    for small in map(ended, smalls):
        assert small.returncode == 0, small.stderr


@pytest.mark.parametrize("error, fragments", [
    pytest.param(MemoryError(), ("[out-of-memory]", "nothing was written"), id="MemoryError"),
    pytest.param(OSError(28, "No space left on device", "persons_2021.parquet"),
                 ("[disk-full]", "persons_2021.parquet", "nothing was published"), id="ENOSPC"),
])
def test_resource_errors_during_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], error: BaseException,
                                      fragments: tuple[str, ...]) -> None:
    """The first table is written, then the memory or the disk runs out: a message, exit 1, and nothing left
    (no output folder, no hidden temporary folder)."""
    from scrambler import datasets
    from scrambler.cli import main as cli_main

    real = datasets.write_tables
    written: list[str] = []

    def failing(folder: Path, tables: Any, *statistics: Any) -> dict[str, int]:
        if written:
            raise error
        written.extend(tables)
        return real(folder, tables, *statistics)

    monkeypatch.setattr(datasets, "write_tables", failing)
    assert cli_main.main(["population", str(MINI), "--persons", "30", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and written
    for fragment in fragments:
        assert fragment in err, err
    assert list(tmp_path.iterdir()) == []


def test_output_onto_a_file(tmp_path: Path, population: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep")
    for proc in _in_pool(["export", population, "--spec", MINI, "--format", "csv", "--out", target],
                         ["demo", "--spec", MINI, "--out", target, "--population", "50", "--sample", "10",
                          "--scrambled", "20"],
                         ["population", MINI, "--persons", "10", "--out", target, "--force"]):
        assert_clean_failure(proc, ("[output-is-file]", "a-file"))
    assert target.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_unreachable_scheduler(tmp_path: Path, population: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dask.distributed")
    from scrambler import distributed
    from scrambler.cli import main as cli_main

    monkeypatch.setattr(distributed, "SCHEDULER_TIMEOUT_S", 1)
    code = cli_main.main(["scramble", str(MINI), "--input", str(population), "--out", str(tmp_path / "out"),
                          "--persons", "10", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1 and "[scheduler-unreachable]" in err and "tcp://127.0.0.1:1" in err, err
    assert not (tmp_path / "out").exists()


def test_report_refuses_another_input(tmp_path: Path, population: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_cli("scramble", MINI, "--input", population, "--out", run_dir, "--persons", "20", "--no-reports")
    assert proc.returncode == 0, proc.stderr
    other = tmp_path / "other"
    shutil.copytree(population, other)
    table_edit(T20, set_where("region_next", "E", region_next="N"))(other)  # one cell differs
    proc = run_cli("report", run_dir, "--spec", MINI, "--input", other, "--fast")
    assert_clean_failure(proc, ("[input-mismatch]", str(other), "fingerprint"))
    assert not (run_dir / "reports").exists()


def test_scramble_verifies_the_written_files(tmp_path: Path, population: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """scramble checks its output once, on the written files (the in-memory check is skipped): a fault
    between the draw and the write (simulated here: one registration year after the reference year) must
    stop the run with nothing published, and a clean run's manifest carries the files' check."""
    from scrambler.cli import main as cli_main
    from scrambler.cli import scramble as scramble_cli

    real = scramble_cli.scramble
    seen: list[Any] = []

    def faulty(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        seen.append(result.report)
        result.panel.static["reg_year"][0] = 2030
        return result

    monkeypatch.setattr(scramble_cli, "scramble", faulty)
    out = tmp_path / "out"
    argv = ["scramble", str(MINI), "--input", str(population), "--out", str(out), "--persons", "60", "--no-reports"]
    assert cli_main.main(argv) == 1
    err = capsys.readouterr().err
    assert seen == [None]  # the run did not check in memory: the files' check is what stopped it
    assert "[check-failed]" in err and "nothing was published" in err and "reg-before-period" in err
    assert not out.exists()
    monkeypatch.setattr(scramble_cli, "scramble", real)
    assert cli_main.main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["violations"] == 0 and manifest["verified"]["rules"] > 0 and manifest["verified"]["row_checks"] > 0
