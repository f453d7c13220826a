"""Every output folder's datapackage.json is accepted by the real Frictionless validator, descriptor and data.

Frictionless is a dev dependency; it reads Parquet through pyarrow and pandas, so these tests also catch the
ways a pandas-based reader sees our files (nulls in number columns as NaN, years with nulls as floats).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from scrambler.codebook import spec_codebook
from scrambler.formats import export_package, export_tables, frames
from scrambler.package import datapackage
from scrambler.spec import load_spec
from scrambler.tables import table_columns

frictionless = pytest.importorskip("frictionless")

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini"
DECLARED = sorted(p.name for p in (REPO / "constraints").iterdir() if (p / "dataset.yaml").is_file())


def errors(report: Any) -> list[str]:
    return [f"{kind}: {message}" for kind, message in report.flatten(["type", "message"])]


def assert_valid(folder: Path, limit_rows: int | None = None, one_per_layout: bool = False) -> None:
    """Validate the folder's package. ``one_per_layout``: only the first table of each column layout (a
    declared spec repeats one layout over up to 200 periods; the validator's cost is per table)."""
    path = folder / "datapackage.json"
    if one_per_layout:
        descriptor = json.loads(path.read_text())
        layouts = {}
        for resource in descriptor["resources"]:
            layouts.setdefault(tuple(f["name"] for f in resource["schema"]["fields"]), resource)
        descriptor["resources"] = list(layouts.values())
        path = folder / "datapackage.layouts.json"
        path.write_text(json.dumps(descriptor))
    report = frictionless.validate(str(path), limit_rows=limit_rows)
    found = errors(report)
    assert report.valid and not found, "\n".join(found[:20])


@pytest.fixture(scope="module")
def mini_story(tmp_path_factory: pytest.TempPathFactory, run_cli) -> Path:
    root = tmp_path_factory.mktemp("packages")
    steps = [
        ("population", MINI, "--persons", "400", "--out", root / "population", "--seed", "1"),
        ("sample", root / "population", "--spec", MINI, "--persons", "300", "--out", root / "sample", "--seed", "2"),
        ("scramble", MINI, "--input", root / "sample", "--persons", "300", "--out", root / "scrambled",
         "--seed", "3", "--no-reports", "--format", "csv"),
    ]
    for step in steps:
        proc = run_cli(*step)
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.mark.parametrize("kind", ["population", "sample", "scrambled"])
def test_every_kind_of_folder_is_a_valid_package(mini_story: Path, kind: str) -> None:
    assert_valid(mini_story / kind)


def test_nulls_are_read_as_nulls(mini_story: Path) -> None:
    """The mini spec has nullable integer, decimal and year-month columns: frictionless must see None there,
    never "nan" (which the validator would otherwise accept as text in a string column)."""
    package = frictionless.Package(str(mini_story / "population" / "datapackage.json"))
    resource = package.resources[0]
    nulls = 0
    with resource:
        for row in resource.row_stream:
            assert row.valid, row.errors
            for name in row.field_names:
                value = row[name]
                assert not (isinstance(value, float) and value != value), f"NaN in {name}"
                assert value != "nan", f"'nan' text in {name}"
                nulls += value is None
    assert nulls > 0, "the fixture should contain nulls, else this test proves nothing"


@pytest.mark.parametrize("spec_name", DECLARED)
def test_declared_specs_write_valid_packages(declared_population, spec_name: str) -> None:
    folder = declared_population(spec_name)
    descriptor = json.loads((folder / "datapackage.json").read_text())
    for resource in descriptor["resources"]:
        for field in resource["schema"]["fields"]:
            constraints = field.get("constraints", {})
            if field["type"] != "string":
                assert "pattern" not in constraints, (resource["name"], field["name"])
            if field["type"] == "integer":
                for key in ("minimum", "maximum"):
                    assert isinstance(constraints.get(key, 0), int), (resource["name"], field["name"], key)
    whole = frictionless.Package.validate_descriptor(str(folder / "datapackage.json"))
    assert whole.valid, "\n".join(errors(whole)[:20])
    assert_valid(folder, limit_rows=20, one_per_layout=True)


@pytest.fixture(scope="module")
def mini_exported(mini_story: Path, run_cli) -> Path:
    out = mini_story / "exported"
    proc = run_cli("export", mini_story / "scrambled", "--spec", MINI, "--format", "csv,parquet,stata", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_folders_are_packages_of_their_own(mini_story: Path, mini_exported: Path, fmt: str) -> None:
    """The CSV and Parquet export folders carry the dataset folder's package, pointing at their own files:
    the validator reads every row of them (through CSV it costs a fraction of Parquet's, see formats.md)."""
    folder = mini_exported / fmt
    assert_valid(folder)
    mine = json.loads((folder / "datapackage.json").read_text())
    source = json.loads((mini_story / "scrambled" / "datapackage.json").read_text())
    assert mine["description"] == source["description"]
    assert [r["schema"] for r in mine["resources"]] == [r["schema"] for r in source["resources"]]
    for resource in mine["resources"]:
        assert resource["format"] == fmt and (folder / resource["path"]).is_file(), resource["path"]
        assert resource["path"].endswith(f".{fmt}")


def test_scramble_format_csv_writes_a_package_beside_the_files(mini_story: Path) -> None:
    folder = mini_story / "scrambled" / "csv"
    descriptor = json.loads((folder / "datapackage.json").read_text())
    assert {r["path"] for r in descriptor["resources"]} == {p.name for p in folder.glob("*.csv")} - {"codebook.csv"}
    assert_valid(folder)


def test_formats_no_package_reader_takes_get_no_descriptor(mini_exported: Path) -> None:
    assert list((mini_exported / "stata").glob("*.dta"))
    assert not (mini_exported / "stata" / "datapackage.json").exists()


def test_csv_package_catches_a_code_outside_the_domain(mini_exported: Path, tmp_path: Path) -> None:
    """The descriptor constrains the CSV files (it is not valid whatever they hold): one cell of a coded
    column set to a code no list has makes the validator name that field."""
    folder = tmp_path / "csv"
    shutil.copytree(mini_exported / "csv", folder)
    descriptor = json.loads((folder / "datapackage.json").read_text())
    resource = descriptor["resources"][0]
    coded = next(f["name"] for f in resource["schema"]["fields"] if "enum" in f.get("constraints", {}))
    path = folder / resource["path"]
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index(coded)
    rows[1][column] = "not-a-code"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    report = frictionless.validate(str(folder / "datapackage.json"))
    found = report.flatten(["type", "fieldName"])
    assert not report.valid and ["constraint-error", coded] in found, found


@pytest.mark.parametrize("spec_name", DECLARED)
def test_declared_specs_csv_exports_are_valid_packages(declared_population, tmp_path: Path, spec_name: str) -> None:
    """Every row of one table per column layout of each declared spec, exported as CSV with its package."""
    spec = load_spec(REPO / "constraints" / spec_name)
    folder = declared_population(spec_name)
    chosen: dict[tuple[str, ...], str] = {}
    for name, table, _ in spec.table_names():
        chosen.setdefault(tuple(c for c, _, _ in table_columns(spec, table)), name)
    tables = frames({name: pq.read_table(folder / f"{name}.parquet") for name in chosen.values()})
    export_tables(tables, spec_codebook(spec), "csv", tmp_path)
    descriptor = datapackage(spec, {name: len(frame) for name, frame in tables.items()}, "test")
    assert export_package(descriptor, "csv", tmp_path) == tmp_path / "datapackage.json"
    assert len(descriptor["resources"]) == len(chosen)
    assert_valid(tmp_path)
