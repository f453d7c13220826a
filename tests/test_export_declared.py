"""Every export format works on every declared dataset at full width, and names are checked before any run.

Each declared spec's population (a few hundred persons, shared with test_datapackage) is exported in every
format and reopened: Stata and SPSS files with pyreadstat (variable labels, value labels, label-set names within
Stata's limit), CSV with the csv module, SAS programs as text. A declared spec repeats one column layout over up
to 219 periods; the exports cover one table of each layout (every column of the dataset) to stay fast, and the
SAS data set names are checked over every table name.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow.parquet as pq
import pyreadstat
import pytest

from scrambler.codebook import export_issues, spec_codebook
from scrambler.formats import FORMATS, export_tables
from scrambler.formats._names import SAS, STATA
from scrambler.formats.sas import dataset_names
from scrambler.spec import load_spec
from scrambler.tables import table_columns

REPO = Path(__file__).resolve().parent.parent
DECLARED = sorted(p.name for p in (REPO / "constraints").iterdir() if (p / "dataset.yaml").is_file())
MINI = REPO / "tests" / "fixtures" / "mini"
READERS = {"stata": (".dta", pyreadstat.read_dta), "spss": (".sav", pyreadstat.read_sav),
           "zsav": (".zsav", pyreadstat.read_sav)}


def one_table_per_layout(spec_name: str) -> list[str]:
    spec = load_spec(REPO / "constraints" / spec_name)
    chosen: dict[tuple[str, ...], str] = {}
    for name, table, _ in spec.table_names():
        chosen.setdefault(tuple(c for c, _, _ in table_columns(spec, table)), name)
    return list(chosen.values())


@pytest.mark.parametrize("spec_name", DECLARED)
def test_declared_specs_pass_every_format_name_check(spec_name: str) -> None:
    spec = load_spec(REPO / "constraints" / spec_name)
    assert export_issues(spec, FORMATS) == []
    # SAS data set names: derived for every table, legal and distinct without regard to case
    names = dataset_names([name for name, _, _ in spec.table_names()])
    assert all(SAS.problems(n) == [] for n in names.values()), names
    assert len({n.upper() for n in names.values()}) == len(names)


@pytest.mark.parametrize("fmt", ["stata", "spss", "zsav", "sas", "csv"])
@pytest.mark.parametrize("spec_name", DECLARED)
def test_declared_spec_exports_and_reopens_with_labels(declared_population, tmp_path: Path, spec_name: str,
                                                       fmt: str) -> None:
    spec = load_spec(REPO / "constraints" / spec_name)
    folder = declared_population(spec_name)
    tables = {name: pq.read_table(folder / f"{name}.parquet").to_pandas() for name in one_table_per_layout(spec_name)}
    codebook = spec_codebook(spec)
    written = export_tables(tables, codebook, fmt, tmp_path)
    assert written
    for name, frame in tables.items():
        expected_labels = {c: codebook.column(name, c).label for c in frame.columns}  # type: ignore[union-attr]
        for column, label in expected_labels.items():
            if column.endswith(("_next", "_prev")):
                assert re.match(r"[0-9]{4}(Q[1-4]|-[0-9]{2})? \((next|previous) ", label), label
        coded = [c for c in frame.columns if (info := codebook.column(name, c)) and (info.coded or info.kind == "boolean")]
        if fmt in READERS:
            suffix, reader = READERS[fmt]
            data, meta = reader(str(tmp_path / f"{name}{suffix}"))
            assert len(data) == len(frame)
            cut = 80 if fmt == "stata" else 256
            for column, label in expected_labels.items():
                shown = meta.column_names_to_labels[column]
                assert shown == label or (len(label) > cut - 3 and label.startswith(shown.removesuffix("...")))
            for column in coded:
                assert meta.variable_value_labels.get(column), f"{name}.{column} has no value labels"
            if fmt == "stata":
                assert all(len(n) <= 32 for n in meta.variable_to_label.values())
                assert all(len(c) <= 32 for c in data.columns)
        elif fmt == "csv":
            with open(tmp_path / f"{name}.csv", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            assert rows[0] == list(frame.columns) and len(rows) == len(frame) + 1
        else:  # sas: a program per table that reads the CSV and attaches every label and format
            program = (tmp_path / f"load_{name}.sas").read_text(encoding="utf-8")
            dataset = re.search(r"^data &outlib\.\.(\S+) ", program, re.M)
            assert dataset and SAS.problems(dataset.group(1)) == []
            for column, label in expected_labels.items():
                assert f"    {column} = '{label[:250].replace(chr(39), chr(39) * 2)}" in program
            for column in coded:
                assert re.search(rf"^    {column} \$?\w+\.$", program, re.M), f"{name}.{column} has no format"
    if fmt == "csv":
        with open(tmp_path / "codebook.csv", encoding="utf-8") as handle:
            listed = {row[0] for row in csv.reader(handle)}
        assert {c for frame in tables.values() for c in frame.columns} <= listed


def test_validate_and_scramble_refuse_a_name_a_format_cannot_take(copy_spec, run_cli, tmp_path: Path) -> None:
    """``class`` is a word the Stata writer will not take as a variable name: validate says so naming the
    variable, and scramble --format stata refuses before reading its input (which does not even exist)."""
    assert "class" in STATA.reserved
    spec = copy_spec(MINI)
    for path in spec.glob("*.yaml"):
        path.write_text(re.sub(r"\bnationality\b", "class", path.read_text(encoding="utf-8")), encoding="utf-8")
    proc = run_cli("validate", spec)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "stata export" in proc.stderr and "'class'" in proc.stderr and "variable class" in proc.stderr
    out = tmp_path / "out"
    proc = run_cli("scramble", spec, "--input", tmp_path / "missing", "--out", out, "--persons", "10",
                   "--format", "stata", "--no-reports")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "'class' is a reserved word in Stata" in proc.stderr
    assert not out.exists()
    # the same spec is fine for a format that takes the name
    assert export_issues(load_spec(spec), ["csv", "spss", "sas"]) == []


def test_sas_data_set_names_are_derived_legal_distinct_and_stable() -> None:
    tables = ["table1_2020", "month_2004-07", "month_2004_07", "MONTH_2004_07", "_N_", "2020", "x" * 40, "x" * 41]
    names = dataset_names(tables)
    assert names["table1_2020"] == "table1_2020"  # a name SAS takes is kept
    assert names["month_2004-07"] == "month_2004_07"
    assert all(SAS.problems(n) == [] for n in names.values()), names
    assert len({n.upper() for n in names.values()}) == len(tables)
    assert dataset_names(tables) == names
