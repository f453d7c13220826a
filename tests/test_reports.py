"""The reports (scrambler/reports): internal and shareable HTML + JSON, the small-cell guarantee of the
shareable report, rendering in headless Chromium, and the ``report`` / ``scramble`` commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler.check import check
from scrambler.coverage import variable_counts
from scrambler.datasets import read_dataset, sample_panel, write_dataset
from scrambler.fingerprint import input_fingerprint as fingerprint
from scrambler.panel import Panel
from scrambler.population import generate_population
from scrambler.reports import ReportSettings, write_run_reports
from scrambler.reports.frames import report_period
from scrambler.reports.privacy import closest_distance, nearest_hamming, recount
from scrambler.reports.shareable import small
from scrambler.scramble import scramble
from scrambler.scramble.pipeline import LABEL
from scrambler.spec import DatasetSpec

CHROMIUM = Path("/usr/bin/chromium")
MINI = Path(__file__).resolve().parent / "fixtures" / "mini"
RunCli = Callable[..., subprocess.CompletedProcess[str]]
RARE = "ZZ"  # nationality code planted with input count 2
RARE_COUNT = 2
THRESHOLD = 5


@dataclass
class Run:
    spec: DatasetSpec
    population: Path
    sample: Path
    run: Path
    source: Panel
    reports: Path


def plant_rare(panel: Panel) -> None:
    """Make nationality RARE occur exactly twice in the tables: one person, never local (L), present in both
    table periods, takes RARE in every period; every other RARE becomes O."""
    spec = panel.spec
    var = spec.variables["nationality"]
    nat = panel.periodic["nationality"]
    rare, other, local = (var.codes.index(c) for c in (RARE, "O", "L"))
    nat[nat == rare] = other
    t20, t21 = spec.panel.periods.index(2020), spec.panel.periods.index(2021)
    never_local = ~(nat == local).any(axis=0)
    candidates = np.nonzero(panel.present[t20] & panel.present[t21] & never_local)[0]
    person = candidates[0]
    nat[:, person] = np.where(nat[:, person] >= 0, rare, nat[:, person])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, mini_spec: DatasetSpec) -> Run:
    root = tmp_path_factory.mktemp("reports")
    population = generate_population(mini_spec, 3000, 1)
    plant_rare(population)
    write_dataset(population, root / "population", {"kind": "population", "seed": 1}, "stand-in population",
                  with_source=True)
    assert check(mini_spec, root / "population").ok
    source = read_dataset(mini_spec, root / "population")
    sample = sample_panel(source, 300, 1)
    write_dataset(sample, root / "sample", {"kind": "sample", "seed": 1}, "phase-1 sample")
    result = scramble(mini_spec, source, 3000, 7)
    write_dataset(result.panel, root / "run", result.manifest(7, fingerprint(root / "population")), LABEL)
    settings = ReportSettings(small_cell=THRESHOLD, n_attacks=300, singling_out_attacks=100,
                              singling_out_attempts=20_000)
    write_run_reports(root / "run", result.panel, source, result.report, sample, settings)
    return Run(mini_spec, root / "population", root / "sample", root / "run", source, root / "run" / "reports")


def load(run: Run, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.reports / f"{name}.json").read_text(encoding="utf-8"))
    return data


def html(run: Run, name: str) -> str:
    return (run.reports / f"{name}.html").read_text(encoding="utf-8")


# --- files and content -------------------------------------------------------------------------------------


def test_both_reports_written_self_contained(run: Run) -> None:
    names = sorted(p.name for p in run.reports.iterdir())
    assert names == ["report_internal.html", "report_internal.json", "report_shareable.html",
                     "report_shareable.json"]
    for stem in ("report_internal", "report_shareable"):
        page = html(run, stem)
        assert page.startswith("<!DOCTYPE html>") and "<svg" in page and LABEL in page
        # readable offline: no script, no stylesheet or image fetched, no address anywhere
        assert not re.search(r"<script|<link|<img|<iframe|src=|href=|https?://", page, re.I)
        assert load(run, stem)["label"] == LABEL


def test_input_counts_handed_over_by_the_scramble_give_the_same_report(run: Run) -> None:
    """The command hands the reports the input's block counts coverage made and the guard's hashes of its
    person-periods; the report must be the one counting the input itself gives (and a wrong handover would
    show in it)."""
    from scrambler.coverage import block_counts
    from scrambler.reports.internal import build_internal
    from scrambler.reports.privacy import recount
    from scrambler.reports.write import read_manifest
    from scrambler.scramble.guard_index import build_index
    from scrambler.scramble.pipeline import InputCounts

    scrambled = read_dataset(run.spec, run.run)
    report = check(run.spec, scrambled)
    settings = ReportSettings(privacy_attacks=False, fidelity=False)
    manifest = read_manifest(run.run)
    counted = build_internal(scrambled, run.source, report, manifest, settings=settings)
    index = build_index(run.source)
    known = {t: (index.known[t], index.known_rare[t]) for t in index.known}
    handed = build_internal(scrambled, run.source, report, manifest, settings=settings,
                            counted=InputCounts(block_counts(run.source), known))
    assert handed["coverage"] == counted["coverage"] and handed["drift"] == counted["drift"]
    assert handed["privacy"]["recount"] == counted["privacy"]["recount"]
    doubled = {key: counts * 2 for key, counts in block_counts(run.source).items()}
    assert build_internal(scrambled, run.source, report, manifest, settings=settings,
                          counted=InputCounts(doubled, known))["coverage"] != counted["coverage"]
    # the guarded output matches no input person-period: the recount's numbers above are 0. The input against
    # itself matches every person-period, some of them rare: the guard's hashes count those as its own do
    itself = recount(run.source, run.source)
    guarded = [t for t in index.known if index.names[t]]  # periods with an own-year block
    assert itself["total_exact"] == int(run.source.present[guarded].sum()) > 0
    assert itself["total_rare"] > 0
    assert recount(run.source, run.source, known) == itself
    marked = {t: (hashes, np.ones_like(few)) for t, (hashes, few) in known.items()}  # every hash called rare
    assert recount(run.source, run.source, marked)["total_rare"] > itself["total_rare"]


def test_certificate_is_the_check(run: Run) -> None:
    cert = load(run, "report_internal")["certificate"]
    fresh = check(run.spec, run.run)
    assert cert["ok"] and cert["violations"] == 0
    assert {r["rule"]: (r["checked"], r["violations"]) for r in cert["results"]} == {
        r.rule: (r.checked, r.violations) for r in fresh.results}
    assert {r.id for r in run.spec.rules} <= {r["rule"] for r in cert["results"]}


def test_internal_report_sections(run: Run) -> None:
    report = load(run, "report_internal")
    assert report["coverage"]["series"] == ["input", "sample", "scrambled"]
    nat = next(v for v in report["coverage"]["variables"] if v["variable"] == "nationality")
    assert next(c for c in nat["categories"] if c["code"] == RARE)["input"] == RARE_COUNT  # planted
    privacy = report["privacy"]
    assert privacy["recount"]["total_exact"] == 0 and privacy["recount"]["total_rare"] == 0
    assert privacy["distance"]["rows"] > 0 and privacy["distance"]["min"] >= 1
    attacks = privacy["anonymeter"]
    for name in ("singling_out", "linkability", "inference"):
        assert "skipped" not in attacks[name], attacks[name]
        assert 0.0 <= attacks[name]["risk"] <= 1.0
    fid = report["fidelity"]
    assert 0.0 < fid["score"] <= 1.0
    status = {frozenset((p["a"], p["b"])): (p["status"], p["rules"]) for p in fid["pairs"]}
    assert status[frozenset(("status", "job"))] == ("kept by rule", ["worker-has-job", "nonworker-no-job"])
    assert status[frozenset(("sex", "region"))][0] == "broken on purpose"
    assert report["provenance"]["spec_fingerprint"] == run.spec.fingerprint


def test_shareable_report_content(run: Run) -> None:
    report = load(run, "report_shareable")
    names = {v["name"] for v in report["codebook"]["variables"]}
    assert names == {v.name for v in run.spec.published_variables}
    sex = next(v for v in report["codebook"]["variables"] if v["name"] == "sex")
    assert [(c["code"], c["label"]) for c in sex["codes"]] == [("M", "Man"), ("F", "Woman")]
    assert {r["id"] for r in report["relations"]["rules"]} == {r.id for r in run.spec.rules}
    region = next(v for v in report["relations"]["variables"] if v["variable"] == "region")
    assert "office" in region["kept_with"] and "sex" in region["broken_with"]
    assert "guard" not in json.dumps(report) and "seed" not in report["about"]


# --- small cells ---------------------------------------------------------------------------------------------


def _numbers(text: str) -> set[str]:
    """Whole-number tokens (not parts of decimals such as 0.2 or 12.5%)."""
    return set(re.findall(r"(?<![\d.])\d+(?![\d.])", text))


def _keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in _keys(v)}
    return set()


def test_small_cell_format() -> None:
    assert small(2, 5) == "<5" and small(4, 5) == "<5" and small(5, 5) == 5 and small(0, 5) == 0


def test_shareable_json_hides_small_counts(run: Run) -> None:
    report = load(run, "report_shareable")
    assert "input" not in _keys(report) and "sample" not in _keys(report)  # no input or sample count at all
    for var in report["codebook"]["variables"]:
        for code in var.get("codes", []):
            count = code["scrambled"]
            assert count == 0 or count == f"<{THRESHOLD}" or count >= THRESHOLD, (var["name"], code)
    nat = next(v for v in report["codebook"]["variables"] if v["name"] == "nationality")
    rare = next(c for c in nat["codes"] if c["code"] == RARE)
    assert rare["in_scrambled"] and RARE_COUNT not in rare.values() and str(RARE_COUNT) not in map(str, rare.values())


def _text(fragment: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", fragment))


def test_shareable_html_hides_planted_count(run: Run) -> None:
    """Every place the rare category appears (its code-table row, its chart group) shows no count of 2."""
    page = html(run, "report_shareable")
    rows = [r for r in re.findall(r"<tr>.*?</tr>", page, re.S) if f"<td>{RARE}</td>" in r]
    groups = [g for g in re.findall(r"<g>.*?</g>", page, re.S) if re.match(rf"<g><text[^>]*>{RARE}\b", g)]
    assert len(rows) == 1 and len(groups) == 2  # the story's small chart and the codebook's chart
    for fragment in rows + groups:
        text = _text(fragment)
        assert str(RARE_COUNT) not in _numbers(text), text
        assert f"<{THRESHOLD}" in text
    assert RARE in page and page.count(f"&lt;{THRESHOLD}") >= 2
    internal = html(run, "report_internal")  # the internal report does show it (the planting worked)
    row = re.search(rf"<tr><td>{RARE}</td>.*?</tr>", internal, re.S)
    assert row and str(RARE_COUNT) in _numbers(_text(row.group(0)))


def _page_text(page: str) -> str:
    """What a reader sees as text, charts' drawing numbers (coordinates) left out."""
    return _text(re.sub(r"<svg.*?</svg>", " ", page, flags=re.S))


def test_no_python_reprs_in_either_report(run: Run) -> None:
    for stem in ("report_internal", "report_shareable"):
        page = html(run, stem)
        text = _page_text(page)
        assert not re.search(r"\{\s*'|'\s*:|\[\s*'", text), f"{stem}: dict or list repr"
        assert not re.search(r"\b(None|True|False|nan)\b", text), f"{stem}: Python literal"
        whole = re.findall(r"(?<![\d.])\d+\.0(?![\d.%])", text)
        assert whole == [], f"{stem}: whole numbers written as floats: {whole[:5]}"
        assert "<pre>" not in page  # provenance is a table too, not a dump
    internal = json.dumps(load(run, "report_internal"))
    assert "timings_s" in internal and "report timings: coverage " in _page_text(html(run, "report_internal"))


def test_reports_lead_with_the_story(run: Run) -> None:
    """The first thing on each page after the label: the certificate in one line, then a small chart per
    categorical variable (input / sample / scrambled internally; scrambled only in the shareable report)."""
    categorical = [v.name for v in run.spec.published_variables if v.is_categorical]
    for stem, series in (("report_internal", ["input", "sample", "scrambled"]), ("report_shareable", ["scrambled"])):
        page = html(run, stem)
        cert = re.search(r'<p class="cert[^"]*">(.*?)</p>', page, re.S)
        assert cert and page.index(cert.group(0)) < page.index("<h2>"), stem
        line = " ".join(_text(cert.group(1)).split())
        assert "0 violations" in line and "no real situation" in line and "coverage" in line, line
        story = re.search(r'<div class="small">(.*?)</div>', page, re.S)
        assert story is not None
        charts = re.findall(r'<svg role="img" aria-label="([^"]+)"', story.group(1))
        assert charts == categorical, stem
        first = re.search(r"<svg.*?</svg>", story.group(1), re.S)
        assert first and [s for s in series if f">{s}</text>" in first.group(0)] == series
    share = load(run, "report_shareable")["headline"]
    assert share["violations"] == 0 and share["no_real_situation"] is True
    assert share["codes"] == sum(len(run.spec.variables[n].codes) for n in categorical)


def test_rule_table_is_folded_and_zero_rules_summarised(run: Run) -> None:
    page = html(run, "report_internal")
    section = page[page.index("<h2>1. Constraint certificate"):page.index("<h2>2. Coverage")]
    visible = re.sub(r"<details>.*?</details>", "", section, flags=re.S)
    kinds = {r.kind for r in check(run.spec, run.run).results}
    assert len(re.findall(r"<tr><td>", visible)) == len(kinds)  # one row per kind of rule, not per rule
    folded = re.search(r"<details>.*?</details>", section, re.S)
    assert folded and len(re.findall(r"<tr><td>", folded.group(0))) == load(run, "report_internal")[
        "certificate"]["rules"]


def test_privacy_figures_explained_in_words(run: Run) -> None:
    report = load(run, "report_internal")
    page = html(run, "report_internal")
    words = _text(page[page.index("<h2>3. Privacy"):page.index("<h2>4. Fidelity")])
    words = " ".join(words.split())
    assert f"Exact matches: {report['privacy']['recount']['total_exact']}." in words
    assert f"at least {report['privacy']['distance']['min']}" in words
    for name in ("singling out", "linkability", "inference"):
        risk = report["privacy"]["anonymeter"][name.replace(" ", "_")]["risk"]
        shown = str(int(risk)) if float(risk).is_integer() else f"{risk:.4g}"
        assert f"{name}: risk {shown}" in words
    assert "0 means no scrambled record depicts a real person" in words and "control persons" in words


def test_planted_count_is_really_two(run: Run) -> None:
    counts = variable_counts(run.source)["nationality"]
    assert counts[run.spec.variables["nationality"].codes.index(RARE)] == RARE_COUNT


# --- privacy figures -----------------------------------------------------------------------------------------


def test_copy_of_input_is_caught(run: Run) -> None:
    """Sanity of the measures: the input scored against itself matches everywhere at distance 0."""
    figures = recount(run.source, run.source)
    published = [run.spec.panel.periods.index(p) for p in (2020, 2021)]
    assert sorted(figures["exact_matches"]) == ["2020", "2021"]
    assert figures["total_exact"] == int(run.source.present[published].sum())
    assert figures["total_rare"] > 0
    distance = closest_distance(run.source, run.source, 1, 200, 100_000, np.random.default_rng(0))
    assert distance["min"] == 0 and distance["histogram"][0] == distance["rows"] == 200



_CELLS = st.sampled_from([0.0, -0.0, 1.0, 2.5, -1e300, 1e300, 3.0])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 6).flatmap(lambda width: st.tuples(
    st.lists(st.lists(_CELLS, min_size=width, max_size=width), max_size=40),
    st.lists(st.lists(_CELLS, min_size=width, max_size=width), max_size=40),
    st.just(width))), st.integers(1, 50))
def test_nearest_hamming_counts_differing_columns_to_the_closest_row(sides: tuple, chunk: int) -> None:
    """Against a row-by-row count: per scrambled row, the fewest columns differing from any input row
    (-0.0 equals 0.0; the null sentinel -1e300 is a value like any other); every column with no input."""
    mine, theirs, width = sides
    expected = [min((sum(x != y for x, y in zip(row, other, strict=True)) for other in theirs), default=width)
                for row in mine]
    got = nearest_hamming(np.array(mine, dtype=float).reshape(len(mine), width),
                          np.array(theirs, dtype=float).reshape(len(theirs), width), chunk=chunk)
    assert got.tolist() == expected


def test_nearest_hamming_counts_past_255_columns() -> None:
    """More columns than a byte counts: the counter widens instead of wrapping."""
    a = np.zeros((3, 300))
    b = np.ones((2, 300))
    b[1, :10] = 0
    assert nearest_hamming(a, b).tolist() == [290, 290, 290]

def test_reporting_does_not_load_heavy_libraries_on_import() -> None:
    code = ("import sys, scrambler.reports, scrambler.check, scrambler.cli.main as m; m.build_parser(); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sdv', 'sdmetrics', 'anonymeter', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"



_QUALITY_WITHOUT_TORCH = """
import json, sys
import numpy as np, pandas as pd
from scrambler.reports.fidelity import quality
rng = np.random.default_rng(0)
def frame(shift):
    return pd.DataFrame({"a": rng.choice(["x", "y", "z"], 300), "b": rng.normal(shift, 1, 300),
                         "c": rng.choice(["p", "q"], 300)})
real, synth = frame(0), frame(0.3)
meta = {"tables": {"cross_section": {"columns": {"a": {"sdtype": "categorical"}, "b": {"sdtype": "numerical"},
                                                   "c": {"sdtype": "categorical"}}}}}
mine = quality(real, synth, meta)
loaded_before = "torch" in sys.modules
import torch  # still importable afterwards: only sdmetrics' own import was answered without it
for name in [m for m in sys.modules if m.split(".")[0] == "sdmetrics"]:
    del sys.modules[name]
from sdmetrics.reports import QualityReport  # now with torch, as sdmetrics imports itself
report = QualityReport()
report.generate({"cross_section": real}, {"cross_section": synth}, meta, verbose=False)
plain = {"score": report.get_score(), "shapes": report.get_details("Column Shapes").to_dict("records"),
         "trends": report.get_details("Column Pair Trends").to_dict("records"),
         "properties": report.get_properties().to_dict("records")}
print(json.dumps({"loaded_before": loaded_before, "torch": hasattr(torch, "tensor"),
                  "same": json.dumps(mine, sort_keys=True, default=str) == json.dumps(plain, sort_keys=True, default=str)}))
"""


def test_quality_report_imports_sdmetrics_without_torch_and_gives_the_same_figures() -> None:
    """The report's worker imports sdmetrics with torch answered as missing (1.2 s of its 2.1 s import):
    torch stays unloaded, imports normally afterwards, and the figures equal those of sdmetrics with torch."""
    out = subprocess.run([sys.executable, "-c", _QUALITY_WITHOUT_TORCH], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"loaded_before": False, "torch": True, "same": True}

# --- rendering ---------------------------------------------------------------------------------------------


def _chromium(page: Path, png: Path, profile: Path) -> str:
    proc = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
                           "--window-size=1200,1600", "--enable-logging=stderr", "--v=0", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert png.is_file(), proc.stderr[-2000:]
    return proc.stderr


def _console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _pixels(png: Path) -> bytes:
    """The decompressed image data (filtered scanlines): a blank page compresses to almost nothing."""
    data, pos, idat = png.read_bytes(), 8, b""
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed at /usr/bin/chromium "
                    "(apt-get install chromium; CI installs it in .ci/run)")
def test_reports_render_in_chromium(run: Run, tmp_path: Path) -> None:
    blank, broken = tmp_path / "blank.html", tmp_path / "broken.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    broken.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("boom")</script>', encoding="utf-8")
    _chromium(blank, tmp_path / "blank.png", tmp_path / "p0")
    assert _console_errors(_chromium(broken, tmp_path / "broken.png", tmp_path / "p1"))  # the probe works
    blank_size = (tmp_path / "blank.png").stat().st_size
    for i, stem in enumerate(("report_internal", "report_shareable")):
        copy = tmp_path / f"{stem}.html"  # a copy: Chromium must not need anything beside the file
        shutil.copy(run.reports / f"{stem}.html", copy)
        png = tmp_path / f"{stem}.png"
        log = _chromium(copy, png, tmp_path / f"profile{i}")
        assert _console_errors(log) == []
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10 * blank_size
        pixels = _pixels(png)
        assert len(set(pixels)) > 100  # text, colours and bars, not one flat colour
        assert sum(1 for b in pixels if b not in (0, 255)) > len(pixels) // 200


# --- commands ----------------------------------------------------------------------------------------------


def test_report_command_regenerates(run: Run, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "again"
    proc = run_cli("report", run.run, "--spec", MINI, "--input", run.population, "--sample", run.sample,
                   "--out", out, "--fast", "--small-cell", "10")
    assert proc.returncode == 0, proc.stderr
    assert "reports in" in proc.stdout
    internal = json.loads((out / "report_internal.json").read_text(encoding="utf-8"))
    shareable = json.loads((out / "report_shareable.json").read_text(encoding="utf-8"))
    assert internal["certificate"]["ok"] and "skipped" in internal["privacy"]["anonymeter"]
    assert shareable["small_cell_threshold"] == 10
    assert internal["coverage"] == load(run, "report_internal")["coverage"]


def test_report_command_without_manifest(run: Run, run_cli: RunCli, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for table in run.run.glob("*.parquet"):
        shutil.copy(table, bare / table.name)
    proc = run_cli("report", bare, "--spec", MINI, "--input", run.population, "--fast")
    assert proc.returncode == 1 and "missing-manifest" in proc.stderr


def test_scramble_writes_reports_unless_told_not_to(run: Run, run_cli: RunCli, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny"  # under 100 persons: the sampled attacks are skipped, which keeps this fast
    write_dataset(sample_panel(run.source, 60, 2), tiny, {"kind": "sample", "seed": 2}, "tiny input")
    with_reports = tmp_path / "with"
    proc = run_cli("scramble", MINI, "--input", tiny, "--out", with_reports, "--persons", "80", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    stages = re.findall(r"^scrambler scramble: (.+) done in \d+\.\d s$", proc.stderr, re.M)
    assert stages == ["read input", "scramble", "write and check", "reports"]  # one line per stage, with time
    assert sorted(p.name for p in (with_reports / "reports").iterdir()) == [
        "report_internal.html", "report_internal.json", "report_shareable.html", "report_shareable.json"]
    internal = json.loads((with_reports / "reports" / "report_internal.json").read_text(encoding="utf-8"))
    assert internal["certificate"]["ok"] and "too few rows" in internal["privacy"]["anonymeter"]["skipped"]
    without = tmp_path / "without"
    proc = run_cli("scramble", MINI, "--input", tiny, "--out", without, "--persons", "80", "--seed", "3",
                   "--no-reports")
    assert proc.returncode == 0, proc.stderr
    assert not (without / "reports").exists()


def test_anonymeter_kernels_compile_once_into_the_cache_folder(tmp_path: Path) -> None:
    """anonymeter's numba kernels have no disk cache of their own: the reports turn it on, in the folder the
    docs name (``$SCRAMBLER_CACHE/numba``), before their first call; a run then compiles them into it, and a
    second process loads them from there instead of compiling again (asked of numba, not timed)."""
    pytest.importorskip("anonymeter")
    code = """
import sys, numpy as np
import anonymeter.evaluators
from anonymeter.neighbors import mixed_types_kneighbors as k
from scrambler.reports.jit import cache_anonymeter_kernels
assert cache_anonymeter_kernels() == ["gower_distance", "_nearest_neighbors"]
x = np.zeros((3, 2)); idx, dist = k._nearest_neighbors(x, x, 1, 1)
assert idx.shape == (3, 1)
print(k._nearest_neighbors.stats.cache_hits and "hit" or "miss")
"""
    env = {**os.environ, "SCRAMBLER_CACHE": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.split()[-1] == "miss"
    assert list((tmp_path / "numba").rglob("*_nearest_neighbors*.nbi"))
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.split()[-1] == "hit"


# --- a control of persons the scrambler never read ---------------------------------------------------------


def test_held_out_split_is_disjoint_whole_and_reproducible(mini_spec: DatasetSpec) -> None:
    from scrambler.errors import UnsatisfiableError
    from scrambler.scramble.holdout import held_out_rows, split_held_out

    population = generate_population(mini_spec, 500, 3)
    rest, held = split_held_out(population, 120, 9)
    assert (held.n, rest.n) == (120, 380)
    assert sorted([*rest.ids, *held.ids]) == sorted(population.ids)
    assert (held_out_rows(500, 120, 9) == held_out_rows(500, 120, 9)).all()
    assert not (held_out_rows(500, 120, 9) == held_out_rows(500, 120, 10)).all()
    with pytest.raises(UnsatisfiableError, match="--hold-out"):
        held_out_rows(500, 500, 9)


def test_scramble_hold_out_never_reads_the_control_and_the_report_attacks_with_it(
        tmp_path: Path, run_cli: RunCli, mini_spec: DatasetSpec) -> None:
    """`scramble --hold-out N`: the output is the scramble of the input without those N persons (same content
    hash as scrambling that subset directly), the manifest says so, and the report's attacks take their control
    from them - including the targeted inference of the swap block's stratum from the block."""
    from scrambler.scramble.holdout import split_held_out

    population = generate_population(mini_spec, 1500, 4)
    write_dataset(population, tmp_path / "pop", {"kind": "population"}, "stand-in", with_source=True)
    done = run_cli("scramble", MINI, "--input", tmp_path / "pop", "--out", tmp_path / "run", "--persons", "1500",
                   "--seed", "3", "--hold-out", "400")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["held_out"] == {"persons": 400, "seed": 3}
    rest, held = split_held_out(read_dataset(mini_spec, tmp_path / "pop", source_ids=False), 400, 3)
    assert manifest["content_hash"] == scramble(mini_spec, rest, 1500, 3).manifest(3, "x")["content_hash"]
    attacks = json.loads((tmp_path / "run" / "reports" / "report_internal.json").read_text(
        encoding="utf-8"))["privacy"]["anonymeter"]
    assert attacks["control"].startswith("held out") and attacks["control_held_out"] is True
    t = report_period(mini_spec)
    assert attacks["rows"]["control"] == int(held.present[t].sum())  # every held-out person present then
    blocks = attacks["block_inference"]
    assert [b["secret"] for b in blocks] == ["status"] and all("risk" in b or "skipped" in b for b in blocks)
    assert "held out: persons the scrambler never read" in (
        tmp_path / "run" / "reports" / "report_internal.html").read_text(encoding="utf-8")
    bad = run_cli("scramble", MINI, "--input", tmp_path / "pop", "--out", tmp_path / "run2", "--persons", "10",
                  "--hold-out", "1500")
    assert bad.returncode != 0 and "--hold-out" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "run2").exists()


def test_singling_out_keeps_anonymeters_note_when_it_found_fewer_queries(capsys: pytest.CaptureFixture[str]) -> None:
    """anonymeter logs, not raises, when its query search finds fewer queries than asked (its risk is then an
    underestimate): the figure carries that note, and nothing reaches stderr."""
    import logging
    from types import SimpleNamespace

    from scrambler.reports.attacks import _singling_out

    class Found3:
        def __init__(self, **kwargs: Any) -> None:
            self.asked = kwargs["n_attacks"]

        def evaluate(self, mode: str) -> None:
            logging.getLogger("anonymeter.evaluators.singling_out_evaluator").warning(
                f"Attack `{mode}` could generate only 3 singling out queries out of the requested {self.asked}. "
                "This can probably lead to an underestimate of the singling out risk.")

        def risk(self) -> Any:
            return SimpleNamespace(value=0.0, ci=(0.0, 0.01))

        def results(self) -> Any:
            rate = SimpleNamespace(value=0.0)
            return SimpleNamespace(attack_rate=rate, baseline_rate=rate, control_rate=rate, n_attacks_ori=10)

    out = _singling_out(Found3, None, None, None, 10, 100, 0)  # type: ignore[arg-type]
    assert "could generate only 3" in out["note"] and out["asked"] == 10
    assert "could generate" not in capsys.readouterr().err
    plain = _singling_out(type("Quiet", (Found3,), {"evaluate": lambda self, mode: None}), None, None, None, 10,
                          100, 0)  # type: ignore[arg-type]
    assert "note" not in plain


def test_certificate_line_counts_the_categories_left_below_target(run: Run) -> None:
    """Every input category present is not "target k each" when some stayed below k: the line says how many."""
    from scrambler.reports.render import render

    report = load(run, "report_internal")
    report["provenance"] = {**report["provenance"], "coverage_gaps": [
        {"table": "t", "variable": "job", "code": "X", "have": 1, "k": 2, "status": "not reached"}] * 3 + [
        {"table": "t", "variable": "job", "code": "Y", "have": 1, "k": 2, "status": "impossible"}]}
    line = unescape(re.sub(r"<[^>]+>", "", render(report).split("Certificate:")[1].split("</p>")[0]))
    assert "4 below the target of" in " ".join(line.split())
    assert "(1 of them shown impossible;" in " ".join(line.split())  # capacity or the domain: said apart
    report["provenance"]["coverage_gaps"] = []
    line = unescape(re.sub(r"<[^>]+>", "", render(report).split("Certificate:")[1].split("</p>")[0]))
    assert "below the target" not in line and "target" in line


def test_fidelity_in_a_worker_process_equals_fidelity_inline(run: Run) -> None:
    """The report runs sdmetrics in a spawned process beside the attacks: the figures must be the ones the same
    sample gives in this process."""
    from scrambler.reports.fidelity import Pending, start_fidelity

    scrambled = read_dataset(run.spec, run.run)
    t = report_period(run.spec)
    settings = ReportSettings(rows=600)
    inline = start_fidelity(run.source, scrambled, t, settings, parallel=False)
    worker = start_fidelity(run.source, scrambled, t, settings, parallel=True)
    assert isinstance(inline, Pending) and isinstance(worker, Pending)
    assert inline.worker.future is None and worker.worker.future is not None, "the parallel one runs elsewhere"
    ours, theirs = inline.result(), worker.result()
    assert ours == theirs
    assert 0.0 < ours["score"] <= 1.0 and ours["rows"] == {"input": 600, "scrambled": 600} and ours["pairs"]



CALLED_HERE: list[float] = []


def _fails(x: float) -> float:
    CALLED_HERE.append(x)  # in this process only when run inline
    raise ValueError(f"no figure for {x}")


def test_a_worker_raises_the_function_error_once() -> None:
    """An error of the function itself comes back from the worker as it would inline; the function is not
    run a second time here (only a worker that dies, or a call that cannot reach it, runs inline)."""
    from scrambler.reports.workers import Worker

    worker = Worker(_fails, 2.0)
    assert worker.future is not None
    with pytest.raises(ValueError, match="no figure for 2.0"):
        worker.result()
    assert CALLED_HERE == []
    with pytest.raises(ValueError, match="no figure for 3.0"):
        Worker(_fails, 3.0, parallel=False).result()
    assert CALLED_HERE == [3.0]


def test_release_ends_the_report_worker_and_a_later_report_starts_another() -> None:
    """The command line ends the report worker when it is done (its graceful exit cost 1.4 s of a 5.8 s run);
    the process must then be gone, and a report after that must still get a worker."""
    import math

    from scrambler.reports import workers

    first = workers.Worker(math.factorial, 10)
    assert first.result() == 3628800
    procs = list(workers._shared_pool()._processes.values())
    assert procs and all(p.is_alive() for p in procs)
    workers.release()
    assert workers._pool is None
    assert not any(p.is_alive() for p in procs)
    again = workers.Worker(math.factorial, 5)
    assert again.future is not None and again.result() == 120
    workers.release()


def test_a_large_input_is_reported_from_a_sample_with_the_whole_inputs_counts(run: Run, monkeypatch) -> None:
    """Above REPORT_PERSONS the scramble command hands the reports a random sample of the input's persons
    (it does not hold the whole input while writing): the sample is of distinct real persons, the same for a
    seed, and the report still states the whole input's size and the scramble's counts of it."""
    from scrambler.coverage import block_counts
    from scrambler.reports import write as write_mod
    from scrambler.reports.internal import build_internal
    from scrambler.reports.write import read_manifest
    from scrambler.scramble.guard_index import build_index
    from scrambler.scramble.pipeline import InputCounts

    source = run.source
    assert write_mod.report_rows(source.n, 7) is None  # not larger than REPORT_PERSONS: the input itself
    assert write_mod.input_for_reports(source, None) is source
    monkeypatch.setattr(write_mod, "REPORT_PERSONS", 500)
    sample = write_mod.input_for_reports(source, write_mod.report_rows(source.n, 7))
    assert sample.n == 500 and len(np.unique(sample.ids)) == 500 and np.isin(sample.ids, source.ids).all()
    assert np.array_equal(write_mod.input_for_reports(source, write_mod.report_rows(source.n, 7)).ids, sample.ids)
    assert not np.array_equal(write_mod.input_for_reports(source, write_mod.report_rows(source.n, 8)).ids, sample.ids)
    # from an input compacted to some of its persons (scramble(hand_over=...)): the same persons
    kept = np.union1d(write_mod.report_rows(source.n, 7), np.arange(0, source.n, 3))
    again = write_mod.input_for_reports(source.subset(kept), write_mod.report_rows(source.n, 7), kept)
    assert np.array_equal(again.ids, sample.ids) and np.array_equal(again.present, sample.present)
    rows = np.searchsorted(source.ids, sample.ids) if np.all(np.diff(source.ids) > 0) else \
        np.array([np.nonzero(source.ids == i)[0][0] for i in sample.ids])
    for name, values in source.periodic.items():  # whole persons, every period
        assert np.array_equal(sample.periodic[name], values[:, rows], equal_nan=values.dtype.kind == "f")
    scrambled = read_dataset(run.spec, run.run)
    report = check(run.spec, scrambled)
    settings = ReportSettings(privacy_attacks=False, fidelity=False)
    index = build_index(source)
    counted = InputCounts(block_counts(source), {t: (index.known[t], index.known_rare[t]) for t in index.known},
                          source.n, int(source.present.sum()))
    whole = build_internal(scrambled, source, report, read_manifest(run.run), settings=settings, counted=counted)
    sampled = build_internal(scrambled, sample, report, read_manifest(run.run), settings=settings, counted=counted)
    assert sampled["datasets"]["input"] == {"persons": source.n, "person_periods": int(source.present.sum())}
    assert sampled["datasets"] == whole["datasets"]
    assert sampled["coverage"] == whole["coverage"] and sampled["drift"] == whole["drift"]
    assert sampled["privacy"]["recount"] == whole["privacy"]["recount"]
