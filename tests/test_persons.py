"""The stand-in generator's person conventions (ages, sex of the fake national numbers) come from generator.yaml,
not from the engine: a spec declares them under ``persons``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from scrambler.errors import SpecError
from scrambler.population import generate_population
from scrambler.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "fixtures" / "mini"


def _mini(tmp_path: Path, persons: dict[str, Any] | None) -> Path:
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    path = root / "generator.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.pop("persons", None)
    if persons is not None:
        doc["persons"] = persons
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def _decoded(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(two-digit birth year, serial is odd) read back from 11-digit national numbers."""
    text = np.array([f"{int(n):011d}" for n in numbers])
    return (np.array([int(t[:2]) for t in text]), np.array([int(t[6:9]) % 2 == 1 for t in text]))


def test_declared_ages_and_sex_code_drive_the_national_numbers(tmp_path: Path) -> None:
    # every person 30 at their first period, and the code F declared as "male": the parity follows the
    # declaration, not the letter M
    spec = load_spec(_mini(tmp_path, {"ages": [30, 30], "sex": {"variable": "sex", "male": "F"}}))
    panel = generate_population(spec, 120, seed=4)
    first_year = np.asarray(panel.periods)[panel.present.argmax(axis=0)]
    year2, odd = _decoded(panel.source_ids)
    assert np.array_equal(year2, (first_year - 30) % 100)
    female = panel.static["sex"] == spec.variables["sex"].codes.index("F")
    assert female.any() and (~female).any()
    assert np.array_equal(odd, female)


def test_declared_age_variable_places_births_inside_the_class(tmp_path: Path) -> None:
    spec = load_spec(_mini(tmp_path, {"ages": [20, 60], "age": {"variable": "age", "min": "age_min",
                                                                "max": "age_max"}}))
    panel = generate_population(spec, 150, seed=5)
    first = panel.present.argmax(axis=0)
    codes = panel.periodic["age"][first, np.arange(panel.n)]
    attrs = spec.variables["age"].codelist.attributes  # type: ignore[union-attr]
    year2, _ = _decoded(panel.source_ids)
    age = (np.asarray(panel.periods)[first] - 1900 - year2) % 100  # age at the first period, maybe one less
    lo, hi = np.asarray(attrs["age_min"])[codes], np.asarray(attrs["age_max"])[codes]
    assert ((age >= lo) & (age <= hi + 1)).all()
    assert len(set(codes.tolist())) > 1


def test_a_source_identifier_without_persons_is_refused_before_any_work(tmp_path: Path) -> None:
    spec = load_spec(_mini(tmp_path, None))
    with pytest.raises(SpecError) as exc:
        generate_population(spec, 50, seed=1)
    (issue,) = exc.value.issues
    assert issue.code == "missing-key" and issue.file == "generator.yaml" and "persons" in issue.message


@pytest.mark.parametrize(("persons", "expected"), [
    ({"ages": [60, 20]}, ("bad-value", "persons.ages")),
    ({"ages": [20, 60], "age": {"variable": "age", "min": "age_min", "max": "oldest"}},
     ("unknown-attribute", "'oldest'")),
    ({"ages": [20, 60], "sex": {"variable": "sex", "male": "X"}}, ("unknown-code", "'X'")),
    ({"ages": [20, 60], "sex": {"variable": "region", "male": "N"}}, ("bad-value", "static categorical")),
])
def test_bad_persons_sections_are_validate_errors(tmp_path: Path, persons: dict[str, Any],
                                                  expected: tuple[str, str]) -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(_mini(tmp_path, persons))
    assert [(i.code, expected[1] in i.message, i.file) for i in exc.value.issues] == [
        (expected[0], True, "mini/generator.yaml")]


def test_the_engine_names_no_person_convention() -> None:
    source = (ROOT / "scrambler" / "population.py").read_text()
    for convention in ('"age_min"', '"age_max"', '"M"', "20, 61"):
        assert convention not in source
