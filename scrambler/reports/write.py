"""Write both reports (HTML + JSON) into a folder: report_internal.* and report_shareable.*."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scrambler.check import CheckReport, check
from scrambler.errors import DataError, Issue
from scrambler.formats._atomic import write_text_atomic
from scrambler.panel import Panel, sampled_rows
from scrambler.reports.internal import build_internal
from scrambler.reports.render import render
from scrambler.reports.settings import ReportSettings
from scrambler.reports.shareable import build_shareable
from scrambler.scramble.pipeline import InputCounts, ScrambleResult
from scrambler.spec.model import DatasetSpec

INTERNAL = "report_internal"
SHAREABLE = "report_shareable"
FOLDER = "reports"

Steps = Callable[[str, int, int], None]  # (step, done, total): what the report is busy with, for progress bars


def write_report(report: dict[str, Any], folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    return [write_text_atomic(folder / f"{stem}.json", data), write_text_atomic(folder / f"{stem}.html", render(report))]


def write_reports(folder: str | Path, scrambled: Panel, source: Panel, check_report: CheckReport,
                  manifest: dict[str, Any], sample: Panel | None = None,
                  settings: ReportSettings | None = None, progress: Steps | None = None,
                  control: Panel | None = None, counted: InputCounts | None = None) -> dict[str, Path]:
    """Build and write both reports; returns the written files by name (``report_internal.html``, ...).
    ``control``: input persons held out of the scramble (the attacks' control; default: cut from ``source``).
    ``counted``: what the scramble counted of ``source``, where the caller has it (InputCounts)."""
    settings = settings or ReportSettings()
    out = Path(folder)
    step = progress or (lambda name, done, total: None)
    step("shareable report", 0, 1)
    shareable = build_shareable(scrambled, manifest, settings, check_report)
    internal = build_internal(scrambled, source, check_report, manifest, sample, settings, progress, control,
                              counted)
    step("writing", 0, 1)
    paths = write_report(shareable, out, SHAREABLE) + write_report(internal, out, INTERNAL)
    step("writing", 1, 1)
    return {p.name: p for p in paths}


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError([Issue(code="missing-manifest", file=str(path),
                               message=f"the run folder has no readable manifest.json ({exc})")]) from None
    if not isinstance(data, dict):
        raise DataError([Issue(code="bad-manifest", file=str(path), message="manifest.json is not an object")])
    return data


def write_run_reports(run_dir: str | Path, scrambled: Panel, source: Panel, check_report: CheckReport,
                      sample: Panel | None = None, settings: ReportSettings | None = None,
                      out: str | Path | None = None, progress: Steps | None = None,
                      counted: InputCounts | None = None) -> dict[str, Path]:
    """Both reports of a written run folder, into ``<run_dir>/reports`` (or ``out``). A run that held persons
    out (manifest ``held_out``) finds them again in ``source`` (the whole input) and uses them as the control."""
    folder = Path(out) if out is not None else Path(run_dir) / FOLDER
    manifest = read_manifest(run_dir)
    control = None
    held = manifest.get("held_out")
    if isinstance(held, dict) and held.get("persons"):
        from scrambler.scramble.holdout import split_held_out

        source, control = split_held_out(source, int(held["persons"]), int(held["seed"]))
    if control is not None:
        counted = None  # counted over the held-in persons, as the scramble read them
    return write_reports(folder, scrambled, source, check_report, manifest, sample, settings, progress, control,
                         counted)


#: above this many input persons, the scramble command hands the reports a sample of them (input_for_reports)
REPORT_PERSONS = 1_000_000


def report_rows(persons: int, seed: int) -> np.ndarray | None:
    """The sorted row numbers of the input's persons the reports read (:func:`input_for_reports`): a simple
    random sample of REPORT_PERSONS of them, None (all) when the input is not larger. They depend on the seed
    and the input's size only (a generator of their own), so the command knows them before the scramble and
    hands them over with the input (scramble(hand_over=...))."""
    return None if persons <= REPORT_PERSONS else sampled_rows(persons, REPORT_PERSONS, seed, 0x2E90)


def input_for_reports(source: Panel, rows: np.ndarray | None, input_rows: np.ndarray | None = None) -> Panel:
    """What the reports read of a large input: its persons at ``rows`` (report_rows; None: the input itself).
    Every figure they take from the input's persons samples rows (2,000 for sdmetrics and the attacks,
    20,000 for the closest distance: ReportSettings), and the counts come from the scramble (InputCounts:
    blocks, the guard's hashes, persons and person-periods), so a sample serves them as well, and the command
    does not hold the whole input (3.2 GB at 7.5 million persons) while it writes and checks the output.
    ``input_rows``: the input was compacted by the scramble (ScrambleResult.input_rows), ``rows`` among them."""
    if rows is None:
        return source
    return source.subset(rows if input_rows is None else np.searchsorted(input_rows, rows))


def reports_after_scramble(run_dir: str | Path, spec: DatasetSpec, input_dir: str | Path,
                           result: ScrambleResult, progress: Steps | None = None,
                           source: Panel | None = None) -> dict[str, Path]:
    """The ``scramble`` command's hook: both reports into ``<run_dir>/reports``. An input held as partitions
    (``part-NNNNN`` folders, the Dask engine) is not read into memory: the reports are skipped with a note.

    ``source``: the input as the command already holds it (the scramble leaves it as read), or its
    :func:`input_for_reports` sample, so that it is not read a second time: 70 s of a 7,500,000-person
    input, and a second copy in memory. Not where persons were held out: the reports then need the whole
    input, to find them again."""
    root = Path(input_dir)
    if not any(root.glob("*.parquet")) and any(root.glob("part-*")):
        print(f"reports skipped for a partitioned input; run `scrambler report {run_dir} --spec ... --input ...` "
              "on a single-folder input", file=sys.stderr)
        return {}
    from scrambler.datasets import read_dataset

    # the run's check: the written files' (the command checks them), or the panel's when none was written yet
    report = result.report if result.report is not None else check(spec, result.panel)
    if source is None or read_manifest(run_dir).get("held_out"):
        source = read_dataset(spec, root, source_ids=False)
    # the scramble's counts of its input (write_run_reports drops them where persons were held out)
    return write_run_reports(run_dir, result.panel, source, report, progress=progress,
                             counted=result.input_counts)
