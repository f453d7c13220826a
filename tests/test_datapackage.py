"""Every output folder's datapackage.json is accepted by the real Frictionless validator, descriptor and data.

Frictionless is a dev dependency; it reads Parquet through pyarrow and pandas, so these tests also catch the
ways a pandas-based reader sees our files (nulls in number columns as NaN, years with nulls as floats).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
         "--seed", "3", "--no-reports"),
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
