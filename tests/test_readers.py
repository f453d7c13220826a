"""Readers: every input format on round trips of the declared populations, decoding rules, errors, import."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest
from conftest import load_declared

from scrambler.check import check
from scrambler.codebook import spec_codebook
from scrambler.datasets import write_dataset
from scrambler.errors import DataError
from scrambler.formats import export_tables
from scrambler.population import generate_population
from scrambler.readers import find_tables, read_table
from scrambler.spec import DatasetSpec
from scrambler.spec.model import Codelist, Variable

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted(p.name for p in (REPO / "constraints").iterdir() if (p / "dataset.yaml").is_file())
FORMATS = ("csv", "csv.gz", "dta", "sav", "xpt")


def plain_frame(table: pa.Table) -> pd.DataFrame:
    """A table as a foreign tool would hold it: codes as text, booleans as 0/1 numbers, nulls as None/NaN."""
    out = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        values = column.to_pylist()
        if pa.types.is_boolean(column.type):
            out[name] = pd.Series([None if v is None else float(v) for v in values], dtype="float64")
        elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            out[name] = pd.Series(values, dtype="float64")
        else:
            out[name] = pd.Series(["" if v is None else v for v in values], dtype=object)
    return pd.DataFrame(out)


def write_as(table: pa.Table, fmt: str, target: Path) -> None:
    """Write one table in ``fmt`` the way other tools write it (not through scrambler's exporters)."""
    if fmt in ("csv", "csv.gz"):
        frame = table.to_pandas()  # pandas writes codes as text and booleans as True/False
        frame.to_csv(target, index=False, compression="gzip" if fmt == "csv.gz" else None)
    elif fmt == "dta":
        pyreadstat.write_dta(plain_frame(table), target, version=14)
    elif fmt == "sav":
        pyreadstat.write_sav(plain_frame(table), target)
    else:
        pyreadstat.write_xport(plain_frame(table), target, file_format_version=8)


@pytest.fixture(scope="module", params=SPECS)
def population(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[DatasetSpec, Path]:
    spec = load_declared(request.param)  # 18/088 over its last year: 12 monthly tables, not 154
    root = tmp_path_factory.mktemp(request.param)
    write_dataset(generate_population(spec, 30, 5), root / "parquet", {"kind": "population"}, "test data")
    return spec, root / "parquet"


def assert_same_cells(source: Path, other: Path, spec: DatasetSpec) -> None:
    """Every cell of every Parquet table of ``source`` equals the same cell read from ``other``."""
    theirs = find_tables(other)
    for name, path in find_tables(source).items():
        expected = pq.read_table(path)
        got = read_table(theirs[name], spec)
        assert got.num_rows == expected.num_rows, name
        for column in expected.column_names:
            assert got.column(column).to_pylist() == expected.column(column).to_pylist(), (name, column)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_declared_population(population: tuple[DatasetSpec, Path], fmt: str, tmp_path: Path) -> None:
    spec, source = population
    folder = tmp_path / fmt
    folder.mkdir()
    for name, path in find_tables(source).items():
        write_as(pq.read_table(path), fmt, folder / f"{name}.{fmt}")
    assert_same_cells(source, folder, spec)
    report = check(spec, folder)
    assert report.ok, report.format_text()


@pytest.mark.parametrize("fmt", ["csv", "stata", "spss"])
def test_scramblers_own_exports_read_back(mini_spec: DatasetSpec, fmt: str, tmp_path: Path) -> None:
    """Stata/SPSS exports number non-integer codes 1..K with a ``_code`` companion; CSV writes true/false."""
    write_dataset(generate_population(mini_spec, 40, 2), tmp_path / "data", {"kind": "population"}, "test data")
    frames = {name: pq.read_table(path).to_pandas() for name, path in find_tables(tmp_path / "data").items()}
    export_tables(frames, spec_codebook(mini_spec), fmt, tmp_path / fmt)
    assert_same_cells(tmp_path / "data", tmp_path / fmt, mini_spec)  # codebook.csv is not taken for a table
    assert check(mini_spec, tmp_path / fmt).ok


def _var(name: str, kind: str, codes: tuple[str, ...] = (), labels: tuple[str, ...] = ()) -> Variable:
    codelist = Codelist(name, codes, {"en": labels or codes}) if codes else None
    return Variable(name=name, type=kind, source="test", codelist=codelist)


NACE = _var("nace", "categorical", ("01", "02", "10"), ("Agriculture", "Forestry", "Food"))
PROVINCE = _var("province", "categorical", ("04000", "10000", "20001"))
TYPES = {"nace": NACE, "province": PROVINCE, "flag": _var("flag", "boolean"), "since": _var("since", "year_month"),
         "n": _var("n", "integer"), "q": _var("q", "year_quarter")}


def test_csv_keeps_leading_zeros_and_reads_usual_spellings(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("nace;province;flag;since;n;q\n01;04000;Ja;202103;7;2021-q2\n10;10000; nee ;2021-04;;\n"
                    "02;20001;TRUE;2021/12;-3;2020Q4\n", encoding="utf-8")
    table = read_table(path, TYPES)
    assert table.column("nace").to_pylist() == ["01", "10", "02"]
    assert table.column("province").to_pylist() == ["04000", "10000", "20001"]
    assert table.column("flag").to_pylist() == [True, False, True]
    assert table.column("since").to_pylist() == ["2021-03", "2021-04", "2021-12"]
    assert table.column("n").to_pylist() == [7, None, -3]
    assert table.column("q").to_pylist() == ["2021Q2", None, "2020Q4"]


def test_labelled_numbers_become_their_codes(tmp_path: Path) -> None:
    """NACE "01" stored as 1 labelled "01 Agriculture"; "02" as 2 labelled with the code list's label;
    province 4000 (a numeric column lost the zero) is the one code worth 4000."""
    frame = pd.DataFrame({"nace": [1.0, 2.0, 10.0, None], "province": [4000.0, 10000.0, 20001.0, 4000.0]})
    pyreadstat.write_dta(frame, tmp_path / "t.dta", version=14,
                         variable_value_labels={"nace": {1: "01 Agriculture", 2: "Forestry"}})
    table = read_table(tmp_path / "t.dta", TYPES)
    assert table.column("nace").to_pylist() == ["01", "02", "10", None]
    assert table.column("province").to_pylist() == ["04000", "10000", "20001", "04000"]
    assert json.loads(table.schema.field("nace").metadata[b"value_labels"])["1"] == "01 Agriculture"


def test_errors_name_file_column_row_and_value(tmp_path: Path) -> None:
    path = tmp_path / "persons.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("nace,n,flag,since\n01,1,yes,2021-01\n02,x2,yes,2021-13\n10,3,maybe,2021-02\n")
    with pytest.raises(DataError) as caught:
        read_table(path, TYPES)
    text = str(caught.value)
    for fragment in (str(path), "table persons", "variable n", "row 2", "'x2'", "whole numbers",
                     "variable flag", "row 3", "'maybe'", "variable since", "'2021-13'"):
        assert fragment in text, fragment
    assert len(caught.value.issues) == 3  # one issue per bad column, all at once


def test_without_a_spec_codes_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("code,count,share,flag\n01,1,0.5,true\n10,20,1.25,false\n", encoding="utf-8")
    table = read_table(path)
    assert table.column("code").to_pylist() == ["01", "10"]
    assert table.schema.field("count").type == pa.int64()
    assert table.schema.field("share").type == pa.float64()
    assert table.column("flag").to_pylist() == [True, False]


def test_two_files_for_one_table_are_refused(tmp_path: Path, mini_spec: DatasetSpec) -> None:
    (tmp_path / "persons_2020.csv").write_text("person_id\n1\n", encoding="utf-8")
    (tmp_path / "persons_2020.dta").write_bytes(b"")
    with pytest.raises(DataError, match="ambiguous-table"):
        check(mini_spec, tmp_path)


@pytest.fixture
def mini_folders(mini_spec: DatasetSpec, tmp_path: Path) -> dict[str, Path]:
    """The mini population as Parquet, as a CSV folder and as a Stata folder."""
    write_dataset(generate_population(mini_spec, 60, 8), tmp_path / "parquet", {"kind": "population"}, "test")
    folders = {"parquet": tmp_path / "parquet"}
    for fmt in ("csv", "dta"):
        folders[fmt] = tmp_path / fmt
        folders[fmt].mkdir()
        for name, path in find_tables(tmp_path / "parquet").items():
            write_as(pq.read_table(path), fmt, folders[fmt] / f"{name}.{fmt}")
    return folders


@pytest.mark.parametrize("fmt", ["csv", "dta"])
def test_import_keeps_every_cell_and_passes_check(mini_folders: dict[str, Path], mini_dir: Path, run_cli,
                                                   mini_spec: DatasetSpec, fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    proc = run_cli("import", mini_dir, "--from", mini_folders[fmt], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "check passed" in proc.stdout
    assert_same_cells(mini_folders["parquet"], out, mini_spec)
    for name, path in find_tables(mini_folders["parquet"]).items():  # canonical types, as the engine writes
        assert pq.read_schema(out / f"{name}.parquet").types == pq.read_schema(path).types
    assert check(mini_spec, out).ok
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "import" and manifest["verified"]["violations"] == 0
    names = [r["name"] for r in json.loads((out / "datapackage.json").read_text())["resources"]]
    assert sorted(names) == sorted(find_tables(mini_folders["parquet"]))


def test_import_refuses_data_that_break_the_spec(mini_folders: dict[str, Path], mini_dir: Path, run_cli,
                                                 tmp_path: Path) -> None:
    source = tmp_path / "broken"
    shutil.copytree(mini_folders["csv"], source)
    path = source / "persons_2020.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "reg_year"] = "1900"  # below the declared minimum 1950
    frame.to_csv(path, index=False)
    before = path.read_bytes()
    out = tmp_path / "imported"
    proc = run_cli("import", mini_dir, "--from", source, "--out", out)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "check-failed" in proc.stderr and "domain:reg_year" in proc.stderr
    assert not out.exists() and path.read_bytes() == before
    assert not list(tmp_path.glob(".imported.tmp-*"))


def test_scramble_takes_a_csv_folder(mini_folders: dict[str, Path], mini_dir: Path, run_cli,
                                     mini_spec: DatasetSpec, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("scramble", mini_dir, "--input", mini_folders["csv"], "--out", out, "--persons", "40",
                   "--no-reports")
    assert proc.returncode == 0, proc.stderr
    assert check(mini_spec, out).ok
    assert check(mini_spec, mini_folders["csv"]).ok


def test_documented_commands(mini_dir: Path, mini_spec: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """docs/bring-your-own-data.md's command block, run as written (the fixture spec in place of the real one),
    through the command line's own entry point in this process (six interpreters took 14 s, this 5 s)."""
    import shlex

    from scrambler.cli.main import main

    text = (REPO / "docs" / "bring-your-own-data.md").read_text(encoding="utf-8")
    block = text.split("## The commands", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 6 and all(line.startswith("scrambler ") for line in lines)
    monkeypatch.chdir(tmp_path)
    for line in lines:
        args = [str(mini_dir) if a == "constraints/foreign-diplomas-21-128" else a for a in shlex.split(line)[1:]]
        code = main(args)
        assert code == 0, (line, capsys.readouterr())
    for folder in ("imported", "run", "run-from-csv", "extract/csv", "extract/stata"):
        assert check(mini_spec, tmp_path / folder).ok, folder
