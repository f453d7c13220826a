"""Tests for `scrambler smallcell`: planted small cells found directly and by differencing."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler.errors import DataError
from scrambler.smallcell import Finding, SmallCellReport, check_table, load_table

ROOT = Path(__file__).resolve().parents[1]


def cube(cells: dict[tuple[str, ...], int], dims: list[str], total: str = "Total") -> pd.DataFrame:
    """A long table with every margin (each subset of dimensions summed) from {(v1, ..., vk): n}."""
    base = pd.DataFrame([(*k, n) for k, n in cells.items()], columns=[*dims, "n"])
    parts = []
    for r in range(len(dims) + 1):
        for summed in itertools.combinations(dims, r):
            keep = [d for d in dims if d not in summed]
            g = base.groupby(keep, as_index=False)["n"].sum() if keep else pd.DataFrame({"n": [base["n"].sum()]})
            for d in summed:
                g[d] = total
            parts.append(g[[*dims, "n"]])
    out = pd.concat(parts, ignore_index=True)
    out["n"] = out["n"].astype(str)
    return out


def grid(rows: list[list[int]]) -> dict[tuple[str, ...], int]:
    """2-D cells: rows a, b, c, ... and columns A, B, C, ..."""
    return {(r, c): v for r, line in zip("abcdefgh", rows, strict=False) for c, v in zip("ABCDEFGH", line, strict=False)}


def where(df: pd.DataFrame, *key: str) -> pd.Series:
    mask = np.logical_and.reduce([df[d] == v for d, v in zip(df.columns[: len(key)], key, strict=True)])
    assert mask.sum() == 1, key
    return mask


def suppress(df: pd.DataFrame, *keys: tuple[str, ...]) -> pd.DataFrame:
    for key in keys:
        df.loc[where(df, *key), "n"] = "x"
    return df


def by_code(report: SmallCellReport, code: str) -> dict[tuple[str, ...], Finding]:
    return {tuple(f.cell.values()): f for f in report.findings if f.code == code}


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrambler", "smallcell", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


CHAIN = [[3, 20, 30], [15, 4, 12], [30, 12, 14]]
CHAIN_SUPPRESSED = [("a", "A"), ("a", "B"), ("b", "B"), ("b", "C")]


# ------------------------------------------------------------------------------------------------ 2-D


def test_direct_small_cell_in_2d_table() -> None:
    df = cube(grid([[10, 20, 30], [15, 3, 12], [30, 12, 14]]), ["r", "c"])
    report = check_table(df)
    assert [(f.code, f.cell, f.value, f.disclosive) for f in report.findings] == [
        ("small-cell", {"r": "b", "c": "B"}, 3, True)]
    assert report.findings[0].row == where(df, "b", "B").argmax() + 1
    assert not report.ok


def test_suppressed_cell_recovered_from_its_margin() -> None:
    df = suppress(cube(grid([[2, 20, 30], [15, 25, 12], [30, 12, 14]]), ["r", "c"]), ("a", "A"))
    report = check_table(df)
    found = by_code(report, "recoverable-by-difference")
    assert list(found) == [("a", "A")]
    assert found[("a", "A")].value == 2 and found[("a", "A")].disclosive and found[("a", "A")].step == 1
    assert "margin row" in found[("a", "A")].message
    assert report.suppressed == 1 and report.recovered == 1 and not report.ok


def test_chain_recovery_needs_a_second_step() -> None:
    df = suppress(cube(grid(CHAIN), ["r", "c"]), *CHAIN_SUPPRESSED)
    # (b, B) shares its row with (b, C) and its column with (a, B): no line has it as the only unknown
    report = check_table(df)
    found = by_code(report, "recoverable-by-difference")
    truth = {(r, c): CHAIN["abc".index(r)]["ABC".index(c)] for r, c in CHAIN_SUPPRESSED}
    assert {k: f.value for k, f in found.items()} == truth
    assert found[("b", "B")].step == 2 and found[("a", "A")].step == 1
    disclosive = {k for k, f in found.items() if f.disclosive}
    assert disclosive == {("a", "A"), ("b", "B")}  # 20 and 12 come out too, but are not small


def test_cell_found_only_by_combining_several_margins() -> None:
    """A bridge between two suppressed 2x2 cycles: every line has >= 2 unknowns, yet (b, C) is fixed."""
    g = [[10, 20, 30, 40], [15, 25, 2, 35], [30, 12, 14, 16], [22, 18, 24, 26]]
    cycles = [("a", "A"), ("a", "B"), ("b", "A"), ("b", "B"), ("c", "C"), ("c", "D"), ("d", "C"), ("d", "D")]
    report = check_table(suppress(cube(grid(g), ["r", "c"]), *cycles, ("b", "C")))
    found = by_code(report, "recoverable-by-difference")
    assert list(found) == [("b", "C")] and found[("b", "C")].value == 2
    assert "linear algebra" in found[("b", "C")].message


def test_small_group_left_by_margin_minus_published_cells() -> None:
    df = suppress(cube(grid([[1, 2, 10], [20, 30, 12]]), ["r", "c"]), ("a", "A"), ("a", "B"), ("b", "A"),
                  ("b", "B"))
    report = check_table(df)
    assert not by_code(report, "recoverable-by-difference")  # a 2x2 cycle: no cell is fixed
    [group] = [f for f in report.findings if f.code == "small-difference"]
    assert group.cell == {"r": "a", "c": "Total"} and group.value == 3 and group.disclosive
    assert group.members == [{"r": "a", "c": "A"}, {"r": "a", "c": "B"}]


def test_properly_protected_table_passes() -> None:
    """Primary 3 plus secondary suppressions forming a cycle with large values: nothing derivable."""
    df = suppress(cube(grid([[3, 20, 30], [15, 25, 12], [30, 12, 14]]), ["r", "c"]),
                  ("a", "A"), ("a", "B"), ("c", "A"), ("c", "B"))
    report = check_table(df)
    assert report.findings == [] and report.ok and report.recovered == 0


def test_zero_cells_only_with_include_zero() -> None:
    df = cube(grid([[0, 20, 30], [15, 25, 12]]), ["r", "c"])
    assert check_table(df).ok
    flagged = check_table(df, include_zero=True)
    assert [(f.code, f.value) for f in flagged.findings] == [("small-cell", 0)]


def test_threshold_is_a_setting() -> None:
    df = cube(grid([[7, 20, 30], [15, 25, 12]]), ["r", "c"])
    assert check_table(df, threshold=5).ok
    assert [f.value for f in check_table(df, threshold=10).findings] == [7]


def test_margin_mismatch_is_informative_not_disclosive() -> None:
    df = cube(grid([[10, 20, 30], [15, 25, 12]]), ["r", "c"])
    df.loc[where(df, "a", "Total"), "n"] = "50"  # cells sum to 60
    report = check_table(df)
    assert report.ok
    # the row a line (cells 60 > 50) and the column of row margins (Total 112 > 50 + 52)
    assert {(f.code, f.cell["r"], f.value, f.disclosive) for f in report.findings} == {
        ("margin-mismatch", "a", -10, False), ("margin-mismatch", "Total", 10, False)}


def test_margin_below_its_published_cells_is_dropped_not_used() -> None:
    df = suppress(cube(grid([[10, 20, 30], [15, 25, 12]]), ["r", "c"]), ("a", "C"))
    df.loc[where(df, "a", "Total"), "n"] = "25"  # published cells 10 + 20 already exceed it
    report = check_table(df)
    assert ("margin-mismatch", "a", -5) in {(f.code, f.cell["r"], f.value) for f in report.findings}
    assert by_code(report, "recoverable-by-difference")[("a", "C")].value == 30  # from its column
    assert report.notes == []  # the bad row line was left out before it could contradict anything


# ------------------------------------------------------------------------------------------------ 3-D

DIMS3 = ["sex", "age", "region"]


def cube3() -> dict[tuple[str, ...], int]:
    keys = itertools.product(["M", "F"], ["18-24", "25-49", "50-64"], ["BXL", "VL", "WAL"])
    return {k: 10 + (i * 7) % 23 for i, k in enumerate(keys)}


def test_3d_direct_and_recovered_small_cells_but_not_a_protected_block() -> None:
    cells = cube3()
    cells[("M", "18-24", "BXL")] = 4
    cells[("F", "50-64", "WAL")] = 2
    report = check_table(suppress(cube(cells, DIMS3), ("F", "50-64", "WAL")))
    assert by_code(report, "small-cell").keys() == {("M", "18-24", "BXL")}
    assert by_code(report, "recoverable-by-difference")[("F", "50-64", "WAL")].value == 2
    # a 2x2x2 block of suppressed cells (values >= 10) is protected: every line holds two unknowns
    cells[("F", "50-64", "WAL")] = 11
    block = itertools.product(["M", "F"], ["25-49", "50-64"], ["VL", "WAL"])
    protected = check_table(suppress(cube(cells, DIMS3), *block))
    assert protected.suppressed == 8 and protected.recovered == 0
    assert {f.code for f in protected.findings} == {"small-cell"}


def test_3d_chain_recovery() -> None:
    """A 2x2x2 block minus one corner: the far corner has two unknowns on each of its three lines."""
    cells = cube3()
    cells[("M", "25-49", "VL")] = 2
    block = set(itertools.product(["M", "F"], ["25-49", "50-64"], ["VL", "WAL"])) - {("F", "50-64", "WAL")}
    report = check_table(suppress(cube(cells, DIMS3), *sorted(block)))
    found = by_code(report, "recoverable-by-difference")
    assert {k: f.value for k, f in found.items()} == {k: cells[k] for k in block}
    assert found[("M", "50-64", "WAL")].step == 1  # next to the published corner
    far = found[("M", "25-49", "VL")]
    assert far.step == 3 and far.disclosive and far.value == 2
    assert [f.cell for f in report.findings if f.disclosive] == [dict(zip(DIMS3, ("M", "25-49", "VL"), strict=True))]


def test_3d_suppressed_margin_is_recovered_too() -> None:
    cells = cube3()
    cells[("F", "18-24", "VL")] = 3
    df = suppress(cube(cells, DIMS3), ("F", "18-24", "VL"), ("F", "18-24", "Total"), ("F", "18-24", "BXL"))
    found = by_code(check_table(df), "recoverable-by-difference")
    assert found[("F", "18-24", "VL")].value == 3 and found[("F", "18-24", "VL")].disclosive
    margin = found[("F", "18-24", "Total")]
    assert margin.value == sum(v for k, v in cells.items() if k[:2] == ("F", "18-24")) and not margin.disclosive


def test_3d_deleted_row_shows_as_small_difference_between_total_and_subtotal() -> None:
    cells = cube3()
    cells[("F", "50-64", "WAL")] = 3
    df = cube(cells, DIMS3)
    df = df[~where(df, "F", "50-64", "WAL")]  # left out instead of marked
    diffs = [f for f in check_table(df).findings if f.code == "small-difference"]
    assert len(diffs) == 3  # the three lines through the missing cell
    assert {f.value for f in diffs} == {3} and all(f.disclosive for f in diffs)
    assert {"sex": "F", "age": "50-64", "region": "Total"} in [f.cell for f in diffs]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_recovered_values_are_always_true_and_lone_suppressions_always_found(data: st.DataObject) -> None:
    nr, nc = data.draw(st.integers(2, 5)), data.draw(st.integers(2, 5))
    g = data.draw(st.lists(st.lists(st.integers(0, 12), min_size=nc, max_size=nc), min_size=nr, max_size=nr))
    truth = cube(grid(g), ["r", "c"])
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(truth), max_size=len(truth))))
    df = truth.copy()
    df.loc[mask, "n"] = "x"
    report = check_table(df)
    found = by_code(report, "recoverable-by-difference")
    for f in found.values():
        assert f.value == int(truth["n"].iloc[f.row - 1])
    for dim, other, values in (("r", "c", "abcde"[:nr]), ("c", "r", "ABCDE"[:nc])):
        for v in values:
            line = df[(df[dim] == v) & (df[other] != "Total")]
            hidden = line[line["n"] == "x"]
            margin = df[(df[dim] == v) & (df[other] == "Total")]["n"].item()
            if len(hidden) == 1 and margin != "x":  # the only unknown of a line with a published margin
                assert tuple(hidden.iloc[0][["r", "c"]]) in found
    small = {tuple(k) for k, v in zip(df[["r", "c"]].to_numpy(), df["n"], strict=True) if v != "x" and 0 < int(v) < 5}
    assert by_code(report, "small-cell").keys() == small


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_reports_planted_cells_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "chain.csv"
    suppress(cube(grid(CHAIN), ["r", "c"]), *CHAIN_SUPPRESSED).to_csv(path, index=False)
    res = cli(path)
    assert res.returncode == 1, res.stderr
    assert res.stdout.startswith("DISCLOSIVE") and "recoverable-by-difference" in res.stdout
    assert "4 finding(s), 2 disclosive" in res.stdout and "Traceback" not in res.stderr


def test_cli_json(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    suppress(cube(grid(CHAIN), ["r", "c"]), *CHAIN_SUPPRESSED).to_csv(path, index=False)
    out = json.loads(cli(path, "--json").stdout)
    assert out["ok"] is False and out["recovered"] == 4 and out["disclosive"] == 2
    assert {f["code"] for f in out["findings"]} == {"recoverable-by-difference"}
    assert {(f["row"], f["cell"]["r"], f["cell"]["c"], f["value"]) for f in out["findings"] if f["disclosive"]} == {
        (1, "a", "A", 3), (5, "b", "B", 4)}  # data rows, header not counted


def test_cli_clean_table_exits_0_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    cube(grid([[10, 20, 30], [15, 25, 12]]), ["r", "c"]).to_csv(path, index=False)
    res = cli(path, "--threshold", "10")
    assert res.returncode == 0 and res.stdout.startswith("OK ") and len(res.stdout.strip().splitlines()) == 1
    assert cli(path, "--threshold", "11").returncode == 1  # the 10 is small under K = 11


def test_cli_dutch_semicolon_csv_and_custom_labels(tmp_path: Path) -> None:
    df = cube(grid([[2, 20, 30], [15, 25, 12]]), ["geslacht", "leeftijd"], total="Totaal")
    df = df.rename(columns={"n": "aantal"})
    df.loc[where(df, "a", "A"), "aantal"] = "<5"
    path = tmp_path / "tabel.csv"
    df.to_csv(path, sep=";", index=False)
    res = cli(path, "--suppressed-marker", "<5", "--json")
    found = json.loads(res.stdout)["findings"]
    assert res.returncode == 1 and [(f["code"], f["value"]) for f in found] == [("recoverable-by-difference", 2)]
    renamed = tmp_path / "other.csv"
    df.replace("Totaal", "ALLES").to_csv(renamed, sep=";", index=False)
    assert cli(renamed, "--suppressed-marker", "<5", "--total-label", "alles").returncode == 1
    assert cli(renamed, "--suppressed-marker", "<5").returncode == 0  # no margins known: nothing derivable


def test_cli_parquet_with_null_counts(tmp_path: Path) -> None:
    df = suppress(cube(grid([[2, 20, 30], [15, 25, 12]]), ["r", "c"]), ("a", "A"))
    df["n"] = pd.to_numeric(df["n"].where(df["n"] != "x")).astype("Int64")
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    res = cli(path, "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["findings"][0]["value"] == 2


def test_cli_shows_first_20_and_the_rest_as_more(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    cube({(f"v{i}",): 1 for i in range(25)}, ["x"]).to_csv(path, index=False)
    res = cli(path)
    assert res.returncode == 1 and "+5 more" in res.stdout
    assert sum(line.startswith("small-cell") for line in res.stdout.splitlines()) == 20


@pytest.mark.parametrize(("content", "name", "args", "expected"), [
    (None, "missing.csv", [], ["file-not-found", "missing.csv"]),
    ("a,n\nx,1\n", "t.xlsx", [], ["unknown-format", "t.xlsx"]),
    ("a,b\nx,1\n", "t.csv", [], ["no-count-column", "t.csv", "--count"]),
    ("a,n\nx,1\n", "t.csv", ["--count", "freq"], ["no-count-column", "'freq' not found"]),
    ("a,n\nx,4\ny,-2\nTotal,2\n", "t.csv", [], ["bad-count", "t.csv", "variable n", "row 2", "negative"]),
    ("a,n\nx,4\ny,2.5\nTotal,6.5\n", "t.csv", [], ["bad-count", "row 2", "row 3", "not a whole number"]),
    ("a,n\nx,4\ny,abc\n", "t.csv", [], ["bad-count", "row 2", "'abc' is not a number"]),
    ("a,n\nx,4\nx,5\n", "t.csv", [], ["duplicate-cell", "row 2", "row 1"]),
    ("a,n\nx,4\n", "t.csv", ["--threshold", "0"], ["bad-threshold"]),
])
def test_cli_bad_input_is_a_clear_error(tmp_path: Path, content: str | None, name: str, args: list[str],
                                        expected: list[str]) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    res = cli(path, *args)
    assert res.returncode == 1 and res.stdout == ""
    assert "Traceback" not in res.stderr
    for text in expected:
        assert text in res.stderr


def test_load_table_error_names_file_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("sex,aantal\nM,12\nF,-1\nTotaal,11\n")
    with pytest.raises(DataError) as info:
        load_table(path)
    [issue] = info.value.issues
    assert (issue.code, issue.file, issue.variable, issue.row) == ("bad-count", str(path), "aantal", "2")
    path.write_text("sex,aantal\nM,12\nF,x\nTotaal,15\n")
    df = load_table(path)
    assert str(df["aantal"].dtype) == "Int64" and df["aantal"].isna().tolist() == [False, True, False]
    assert by_code(check_table(df), "recoverable-by-difference")[("F",)].value == 3
