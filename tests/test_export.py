"""``scrambler export``: a dataset folder in Stata and SPSS that reopens with the same values and labels."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from scrambler.datasets import write_dataset
from scrambler.population import generate_population
from scrambler.spec import DatasetSpec

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"
REPO = MINI.parents[2]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrambler", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, mini_spec: DatasetSpec) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export")
    write_dataset(generate_population(mini_spec, 150, 4), root / "data", {"kind": "population"}, "test data")
    proc = cli("export", root / "data", "--spec", MINI, "--format", "stata,spss", "--out", root / "out")
    assert proc.returncode == 0, proc.stderr
    assert "stata, spss" in proc.stdout
    return root / "data", root / "out"


READERS = {"stata": (".dta", pyreadstat.read_dta), "spss": (".sav", pyreadstat.read_sav)}


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_reopens_with_values_and_labels(exported: tuple[Path, Path], mini_spec: DatasetSpec, fmt: str) -> None:
    data, out = exported
    suffix, reader = READERS[fmt]
    tables = sorted(p.stem for p in data.glob("*.parquet"))
    assert sorted(p.stem for p in (out / fmt).glob(f"*{suffix}")) == tables
    for name in tables:
        original = pq.read_table(data / f"{name}.parquet").to_pandas()
        frame, meta = reader(out / fmt / f"{name}{suffix}")
        assert len(frame) == len(original)
        labels = meta.column_names_to_labels
        value_labels = meta.variable_value_labels
        for column in original.columns:
            var = mini_spec.variables[column.removesuffix("_next")]
            if column.endswith("_next"):  # says which year it describes: the table's year + 1
                year = int(name.rsplit("_", 1)[1]) + 1
                assert labels[column] == f"{year} (next year): {var.label.get('en', var.name)}"
            else:
                assert labels[column] == var.label.get("en", var.name)
            if var.type == "boolean":
                expected = original[column].astype("boolean").astype("Int64").astype("float64")
                np.testing.assert_array_equal(frame[column].to_numpy(float), expected.to_numpy(float, na_value=np.nan))
                assert value_labels[column] == {0: "no", 1: "yes"}
            elif var.is_categorical:
                codes = original[column].astype(object).where(original[column].notna(), None)
                # the companion column keeps the exact code; the number carries "CODE label"
                assert list(frame[f"{column}_code"]) == [c if c is not None else "" for c in codes]
                shown = [value_labels[column][int(v)] if not pd.isna(v) else None for v in frame[column]]
                wanted = [None if c is None else f"{c} {var.codelist.label(c)}" if var.codelist else c
                          for c in codes]
                assert shown == wanted
            elif var.type in ("year_month", "year_quarter"):
                assert list(frame[column]) == [v if isinstance(v, str) else "" for v in original[column]]
            else:
                np.testing.assert_allclose(frame[column].to_numpy(float),
                                           original[column].to_numpy(float, na_value=np.nan), equal_nan=True)


PSPP_CONVERT = shutil.which("pspp-convert")


@pytest.mark.skipif(PSPP_CONVERT is None, reason="GNU PSPP not installed (apt-get install pspp; CI installs it "
                    "in .ci/run)")
def test_pspp_reads_the_spss_files_as_pyreadstat_does(exported: tuple[Path, Path], tmp_path: Path) -> None:
    """GNU PSPP, a reader independent of the ReadStat library the .sav writer is compared with: every table
    converted by ``pspp-convert`` holds the values pyreadstat reads (checked against the Parquet tables
    above), and with ``--labels`` the value labels pyreadstat reads."""
    _, out = exported
    files = sorted((out / "spss").glob("*.sav"))
    assert files
    labelled = texts = 0
    for path in files:
        frame, meta = pyreadstat.read_sav(path)
        for labels in (False, True):
            target = tmp_path / f"{path.stem}{'_labels' if labels else ''}.csv"
            done = subprocess.run([PSPP_CONVERT, *(["--labels"] if labels else []), str(path), str(target)],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and "warning" not in done.stderr.lower(), done.stderr
            read = pd.read_csv(target, dtype=str, keep_default_na=False)
            assert list(read.columns) == list(frame.columns)
            for column in frame.columns:
                mine = frame[column]
                value_labels = meta.variable_value_labels.get(column) if labels else None
                labelled += bool(value_labels)
                if mine.dtype == object:
                    texts += 1
                    expected = [v.rstrip() for v in mine]
                else:
                    expected = ["" if pd.isna(v) else (value_labels or {}).get(v, v) for v in mine]
                    if not value_labels:
                        got = [np.nan if v.strip() == "" else float(v) for v in read[column]]
                        np.testing.assert_allclose(got, mine.to_numpy(float), equal_nan=True, err_msg=column)
                        continue
                assert [str(v) if not isinstance(v, str) else v for v in expected] == [
                    v.strip() if value_labels else v.rstrip() for v in read[column]], (path.name, column)
    assert labelled and texts  # labelled numbers and text columns were both compared


def test_rejects_unknown_format(exported: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = exported
    proc = cli("export", data, "--spec", MINI, "--format", "stata,excel", "--out", tmp_path / "x")
    assert proc.returncode == 1 and "excel" in proc.stderr and not (tmp_path / "x").exists()


def test_rejects_data_that_do_not_fit_the_spec(exported: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = exported
    bad = tmp_path / "bad"
    bad.mkdir()
    first = sorted(data.glob("*.parquet"))[0]
    pq.write_table(pq.read_table(first).drop_columns(["sex"]), bad / first.name)
    proc = cli("export", bad, "--spec", MINI, "--format", "spss", "--out", tmp_path / "y")
    assert proc.returncode == 1 and "sex" in proc.stderr and not (tmp_path / "y").exists()
