"""The command line, run as a user would: ``python -m scrambler validate | check | population | sample``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scrambler.spec import DatasetSpec

POPULATION = 400
SAMPLE = 60


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory, mini_dir: Path, run_cli) -> Path:
    out = tmp_path_factory.mktemp("cli") / "population"
    result = run_cli("population", mini_dir, "--persons", POPULATION, "--out", out, "--seed", 3)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    return out


@pytest.fixture(scope="module")
def sample(population: Path, mini_dir: Path, run_cli) -> tuple[Path, str]:
    out = population.parent / "sample"
    result = run_cli("sample", population, "--spec", mini_dir, "--persons", SAMPLE, "--out", out, "--seed", 5)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def person_ids(folder: Path) -> set[int]:
    ids: set[int] = set()
    for path in folder.glob("*.parquet"):
        ids.update(pq.read_table(path, columns=["person_id"]).column("person_id").to_pylist())
    return ids


def categories(folder: Path, spec: DatasetSpec) -> dict[str, set[str]]:
    """Per categorical variable (booleans too), the codes seen in any table column that shows it."""
    out: dict[str, set[str]] = {}
    for name, table_spec, _ in spec.table_names():
        table = pq.read_table(folder / f"{name}.parquet")
        for block in table_spec.blocks:
            for var in (spec.variables[v] for v in block.variables):
                if var.is_categorical:
                    values = table.column(var.name + block.suffix).cast("string").to_pylist()
                    out.setdefault(var.name, set()).update(v for v in values if v is not None)
    return out


def test_validate_ok(mini_dir: Path, mini_spec: DatasetSpec, run_cli) -> None:
    result = run_cli("validate", mini_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith(f"mini: valid - {len(mini_spec.variables)} variables, "
                                    f"{len(mini_spec.rules)} rules")


def test_validate_json(mini_dir: Path, mini_spec: DatasetSpec, run_cli) -> None:
    result = run_cli("validate", mini_dir, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["rules"] == len(mini_spec.rules)
    assert summary["fingerprint"] == mini_spec.fingerprint


def test_validate_bad(copy_spec, edit, mini_dir: Path, run_cli) -> None:
    root = copy_spec(mini_dir)
    edit(root / "rules.yaml", "variable: student", "variable: studnet")
    result = run_cli("validate", root)
    assert result.returncode == 1
    assert "[unknown-variable]" in result.stderr and "rule student-constant" in result.stderr
    assert "'studnet'" in result.stderr and "Traceback" not in result.stderr


def test_population_checks_clean(population: Path, mini_dir: Path, run_cli) -> None:
    assert len(person_ids(population)) == POPULATION
    manifest = json.loads((population / "manifest.json").read_text())
    assert manifest["dataset"] == "mini" and manifest["kind"] == "population"
    result = run_cli("check", mini_dir, population)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(f"{POPULATION} persons, 0 violations")


def test_sample_checks_clean_and_reports_misses(sample: tuple[Path, str], population: Path, mini_dir: Path,
                                                mini_spec: DatasetSpec, run_cli) -> None:
    folder, stdout = sample
    ids = person_ids(folder)
    assert len(ids) == SAMPLE and ids <= person_ids(population)
    result = run_cli("check", mini_dir, folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(f"{SAMPLE} persons, 0 violations")
    # the misses line counts the categories of the input (here a population) that the sample lacks
    found = re.search(r"sample misses (\d+) categories that input has, in (\d+) variables", stdout)
    assert found, stdout
    full, part = categories(population, mini_spec), categories(folder, mini_spec)
    missed = {name: codes - part.get(name, set()) for name, codes in full.items()}
    assert int(found.group(1)) == sum(len(m) for m in missed.values())
    assert int(found.group(2)) == sum(1 for m in missed.values() if m)


def test_check_bad(population: Path, mini_dir: Path, tmp_path: Path, run_cli) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in population.glob("*.parquet"):
        table = pq.read_table(path)
        if path.stem == "persons_2021":
            table = table.drop_columns(["office"])
        pq.write_table(table, broken / path.name)
    result = run_cli("check", mini_dir, broken)
    assert result.returncode == 1
    assert "[missing-column]" in result.stdout and "persons_2021" in result.stdout
    assert not result.stdout.splitlines()[-1].endswith(" 0 violations")


def test_check_missing_folder(mini_dir: Path, tmp_path: Path, run_cli) -> None:
    result = run_cli("check", mini_dir, tmp_path / "nothing")
    assert result.returncode == 1
    assert "[missing-data]" in result.stderr and "Traceback" not in result.stderr
