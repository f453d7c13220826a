"""One table of the constraints each type supports: validate enforces it, the docs show it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from scrambler.cli.main import main
from scrambler.errors import SpecError
from scrambler.spec import load_spec
from scrambler.spec.model import TYPES
from scrambler.spec.supports import CONSTRAINTS, SUPPORTED, docs_table

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "fixtures" / "mini"
SPEC_24_130 = ROOT / "constraints" / "arbeidsreserve-24-130"

# a value of each constraint that is well-formed for the mini fixture's variable of each type
VALUE = {"required": True, "unique": True, "minimum": 1, "maximum": 2, "enum": ["x"], "forbidden": ["x"],
         "pattern": "^1"}
MINI_VARIABLE = {"categorical": "region", "ordinal": "age", "boolean": "student", "decimal": "wage",
                 "year": "reg_year", "year_month": "since", "identifier": "person_id"}


def _with_constraint(tmp_path: Path, source: Path, variable: str, key: str, value: Any) -> Path:
    root = tmp_path / source.name
    shutil.copytree(source, root)
    path = root / "variables.yaml"
    doc = yaml.safe_load(path.read_text())
    item = next(v for v in doc["variables"] if v["name"] == variable)
    item.setdefault("constraints", {})[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return root


def test_pattern_on_a_year_of_the_24_130_spec_is_refused_naming_the_variable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    year = next(v.name for v in load_spec(SPEC_24_130).variables.values() if v.type == "year")
    root = _with_constraint(tmp_path, SPEC_24_130, year, "pattern", "^19")
    assert main(["validate", str(root)]) != 0
    err = capsys.readouterr().err
    assert f"variable {year}" in err and "'pattern' does not apply to a year variable" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("vtype", "key"), [(t, k) for t in MINI_VARIABLE for k in CONSTRAINTS
                                             if k not in SUPPORTED[t]])
def test_every_unsupported_constraint_is_refused(tmp_path: Path, vtype: str, key: str) -> None:
    name = MINI_VARIABLE[vtype]
    with pytest.raises(SpecError) as exc:
        load_spec(_with_constraint(tmp_path, MINI, name, key, VALUE[key]))
    assert [(i.code, i.variable) for i in exc.value.issues] == [("type-mismatch", name)]
    assert f"'{key}' does not apply to a {vtype} variable" in exc.value.issues[0].message


def test_an_explicit_no_is_accepted_on_any_type(tmp_path: Path) -> None:
    spec = load_spec(_with_constraint(tmp_path, MINI, "wage", "unique", False))
    assert spec.variables["wage"].constraints.unique is False


def test_every_type_has_a_row_and_the_mini_fixture_covers_most() -> None:
    assert set(SUPPORTED) == set(TYPES)
    assert all("required" in SUPPORTED[t] for t in TYPES)
    assert set(MINI_VARIABLE) == set(TYPES) - {"integer", "year_quarter"}  # they share the numbers' row
    assert SUPPORTED["integer"] == SUPPORTED["year_quarter"] == SUPPORTED["year"]


def test_docs_show_the_table() -> None:
    text = (ROOT / "docs" / "spec-language.md").read_text()
    assert docs_table() in text
    assert "applies to the code or the value's text" not in text  # the old claim that pattern fits numbers
