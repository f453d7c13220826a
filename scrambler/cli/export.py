"""``scrambler export DATA_DIR --spec SPEC --format stata,spss --out DIR``: a dataset folder in researchers'
formats (see docs/formats.md), one subfolder per format, with labels from the spec's codebook."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from scrambler.check import read_tables
from scrambler.cli.progress import Progress
from scrambler.codebook import require_exportable, spec_codebook
from scrambler.datasets import read_dataset
from scrambler.errors import Issue, ScramblerError
from scrambler.formats import FORMATS, export_package, export_tables, frames
from scrambler.output import refuse_file_in_path, refuse_overlap
from scrambler.package import FILE, datapackage
from scrambler.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="write a dataset in researchers' formats (Stata, SPSS, SAS, CSV)",
                       description=__doc__)
    p.add_argument("data", help="a dataset folder (one Parquet file per table)")
    p.add_argument("--spec", required=True, help="the spec folder (labels and code lists)")
    p.add_argument("--format", required=True, help=f"comma-separated formats: {', '.join(FORMATS)}")
    p.add_argument("--out", required=True, help="output folder; each format goes into its own subfolder")
    p.set_defaults(func=run)


def parse_formats(text: str) -> list[str]:
    formats = list(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ScramblerError([Issue(code="unknown-format", message=f"unknown format(s) {', '.join(unknown) or '(none)'}"
                                    f"; choose from {', '.join(FORMATS)}")])
    return formats


def _label(folder: Path) -> str:
    """The description of the dataset folder's own package (population, sample or scrambled), carried over
    to the export's; a folder without one is described by where it came from."""
    try:
        description = json.loads((folder / FILE).read_text(encoding="utf-8")).get("description")
    except (OSError, ValueError, AttributeError):
        description = None
    return description if isinstance(description, str) else f"exported from {folder.name}"


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    formats = parse_formats(args.format)
    refuse_overlap(args.out, {"dataset folder": args.data, "spec folder": args.spec})
    refuse_file_in_path(Path(args.out))
    for fmt in formats:
        refuse_file_in_path(Path(args.out) / fmt)
    spec = load_spec(args.spec)
    require_exportable(spec, formats)  # before reading any data
    out = Path(args.out)
    written = {}
    with Progress("export") as progress:
        with progress.stage("read"):
            read_dataset(spec, args.data)  # the tables must fit the spec, so the labels describe them
            tables = frames(read_tables(args.data, spec))
            codebook = spec_codebook(spec)
        descriptor = datapackage(spec, {name: len(frame) for name, frame in tables.items()},
                                 _label(Path(args.data)))
        for fmt in formats:
            with progress.stage(f"write {fmt}"):
                written[fmt] = export_tables(tables, codebook, fmt, out / fmt)
                package = export_package(descriptor, fmt, out / fmt)
                written[fmt] += [package] if package else []
    files = sum(len(paths) for paths in written.values())
    print(f"{spec.name}: {len(tables)} tables -> {out} ({', '.join(formats)}; {files} files; "
          f"{time.perf_counter() - start:.1f} s)")
    return 0
