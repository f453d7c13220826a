"""Hostile specs are refused without side effects; errors and logs never print source identifiers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "fixtures" / "mini"


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrambler", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)})


def set_rule(rule_id: str, **fields: Any) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        doc = yaml.safe_load((root / "rules.yaml").read_text())
        item = next(r for r in doc["rules"] if r["id"] == rule_id)
        item.update(fields)
        for key in [k for k, v in fields.items() if v is None]:
            del item[key]
        (root / "rules.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    return apply


def append(name: str, content: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        with (root / name).open("a") as fh:
            fh.write(content)

    return apply


def set_var(name: str, **fields: Any) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        doc = yaml.safe_load((root / "variables.yaml").read_text())
        next(v for v in doc["variables"] if v["name"] == name).update(fields)
        (root / "variables.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    return apply


CANARY = "canary.txt"
TOUCH = f"touch {CANARY}"

HOSTILE = [
    pytest.param(append("dataset.yaml", f"description: !!python/object/apply:os.system ['{TOUCH}']\n"),
                 ("[yaml-error]", "dataset.yaml"), id="yaml-python-apply"),
    pytest.param(append("variables.yaml", f"extra: !!python/object/new:os.system ['{TOUCH}']\n"),
                 ("[yaml-error]", "variables.yaml"), id="yaml-python-new"),
    pytest.param(append("rules.yaml", "x: !!python/name:os.system\n"), ("[yaml-error]", "rules.yaml"),
                 id="yaml-python-name"),
    pytest.param(set_rule("reg-before-period", right=f"__import__('os').system('{TOUCH}')"),
                 ("[bad-rule]", "rule reg-before-period"), id="expr-import-call"),
    pytest.param(set_rule("reg-before-period", right="reg_year.__class__"),
                 ("rule reg-before-period", "__class__"), id="expr-dunder-attribute"),
    pytest.param(set_rule("reg-before-period", right="period; import os"), ("[bad-rule]", "rule reg-before-period",
                                                                            "';'"), id="expr-statement"),
    pytest.param(set_rule("reg-before-period", right=f"eval('open(\"{CANARY}\", \"w\")')"),
                 ("[bad-rule]", "rule reg-before-period"), id="expr-eval"),
    pytest.param(set_rule("reg-before-period", right="period.__globals__.os"),
                 ("[bad-rule]", "rule reg-before-period"), id="expr-chained-attribute"),
    pytest.param(set_rule("reg-before-period", right="[x for x in ().__class__.__bases__]"),
                 ("[bad-rule]", "rule reg-before-period"), id="expr-comprehension"),
    pytest.param(set_rule("reg-before-period", right="period" + " + 1" * 5000),
                 ("[bad-rule]", "rule reg-before-period", "longer than"), id="expr-huge"),
    pytest.param(set_rule("office-of-region", rows=None, allowed="../../../etc/passwd"),
                 ("[bad-path]", "rule office-of-region", "leaves the spec folder"), id="combinations-path-escape"),
    pytest.param(set_rule("office-of-region", rows=None, allowed="/etc/passwd"),
                 ("[bad-path]", "rule office-of-region"), id="combinations-absolute-path"),
    pytest.param(set_rule("job-group", table="../mini/../../x.csv"), ("[bad-path]", "rule job-group"),
                 id="mapping-path-escape"),
    pytest.param(set_var("sex", codelist="../../sex"), ("[bad-codelist-name]", "variable sex"),
                 id="codelist-name-escape"),
    pytest.param(set_var("sex", codelist="/etc/passwd"), ("[bad-codelist-name]", "variable sex"),
                 id="codelist-name-absolute"),
    pytest.param(append("dataset.yaml", "big: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"),
                 ("[unknown-key]", "'big'"), id="yaml-alias-expansion"),
]


@pytest.mark.parametrize("change, fragments", HOSTILE)
def test_hostile_spec_refused_without_side_effect(tmp_path: Path, change: Callable[[Path], None],
                                                  fragments: tuple[str, ...]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    root = work / "mini"
    shutil.copytree(MINI, root)
    change(root)
    before = sorted(p.name for p in work.iterdir())
    commands: list[list[str | Path]] = [["validate", root]]
    if CANARY in (root / "dataset.yaml").read_text() + (root / "variables.yaml").read_text() + (
            root / "rules.yaml").read_text():
        commands.append(["population", root, "--persons", "20", "--out", work / "out"])
    for args in commands:
        proc = run_cli(*args, cwd=work)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "Traceback" not in proc.stderr, proc.stderr
        for fragment in fragments:
            assert fragment in out, f"{fragment!r} not in {out}"
        assert not (work / CANARY).exists() and not (root / CANARY).exists() and not (REPO / CANARY).exists()
        assert sorted(p.name for p in work.iterdir()) == before  # no output folder, no temporary folder
        assert "root:" not in out  # /etc/passwd content never echoed


def test_spec_is_not_a_folder_of_symlink_tricks(tmp_path: Path) -> None:
    """A code list that is a symlink out of the spec folder is not followed by combinations/mapping paths."""
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    outside = tmp_path / "secret.csv"
    outside.write_text("code,leave\nJ1,STD\n")
    (root / "codelists" / "link.csv").symlink_to(outside)
    set_rule("job-group", table="codelists/link.csv")(root)
    proc = run_cli("validate", root, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "[bad-path]" in proc.stderr and "rule job-group" in proc.stderr


# ------------------------------------------------------------------- source identifiers never printed


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("pop") / "pop"
    proc = run_cli("population", MINI, "--persons", "150", "--out", out, "--seed", "11", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    numbers = [str(n) for n in pq.read_table(out / "source" / "identifiers.parquet").column("national_number")
               .to_pylist() if n is not None]
    assert len(numbers) >= 150 and all(len(n) >= 9 for n in numbers)
    return out, numbers


def _break(folder: Path, how: str) -> None:
    path = folder / "persons_2020.parquet"
    table = pq.read_table(path)
    if how == "unknown-codes":
        table = table.set_column(table.column_names.index("sex"), "sex", pa.array(["Q"] * table.num_rows))
    elif how == "duplicate-ids":
        table = pa.concat_tables([table, table.slice(0, 10)])
    elif how == "violations":
        table = table.set_column(table.column_names.index("wage"), "wage", pa.array([9999.0] * table.num_rows))
    elif how == "source-broken":
        ids = pq.read_table(folder / "source" / "identifiers.parquet")
        pq.write_table(ids.rename_columns(["nr", "national_number"]), folder / "source" / "identifiers.parquet")
        return
    pq.write_table(table, path)


@pytest.mark.parametrize("how", ["unknown-codes", "duplicate-ids", "violations", "source-broken"])
def test_errors_never_print_source_identifiers(tmp_path: Path, population: tuple[Path, list[str]],
                                               how: str) -> None:
    pop, numbers = population
    data = tmp_path / "data"
    shutil.copytree(pop, data)
    _break(data, how)
    outputs = []
    for args in (["check", MINI, data], ["check", MINI, data, "--json"],
                 ["scramble", MINI, "--input", data, "--out", tmp_path / "out", "--persons", "40"],
                 ["sample", data, "--spec", MINI, "--persons", "30", "--out", tmp_path / "sample"]):
        proc = run_cli(*args, cwd=REPO)
        assert "Traceback" not in proc.stderr, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    text = "\n".join(outputs)
    if how != "violations":
        assert "error" in text  # something failed and was reported
    leaked = [n for n in numbers if n in text]
    assert leaked == [], f"source identifiers printed: {leaked[:3]}"
    assert "national_number=" not in text
