"""Exports against the Parquet write: seconds and bytes per format for one scrambled folder.

    .venv/bin/python benchmarks/exports.py --folder SCRAMBLED_DIR [--formats parquet,csv,stata,spss,zsav,sas]

Reads the folder's Parquet tables once into pandas (as ``scramble --format`` does after writing them), then
writes every format into a temporary folder, each timed on its own (``--repeat`` times, default 3, the best
compared: one run swings by 0.1-0.3 s on a 2-core machine): the Parquet write of the same frames is the
yardstick (issue 16: an export at least as fast as it, and no larger than needed). Each written file is
reopened (pyarrow, pandas, pyreadstat) and its row count compared, so a fast but broken writer does not pass.
Prints a markdown table; nothing is kept.

``--digests``: the Stata and SPSS clocks fixed (the files carry the time they were written), a sha256 per file
after the table: run it from two trees to show a change to a writer kept every byte.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrambler.codebook import spec_codebook  # noqa: E402
from scrambler.formats import export_tables  # noqa: E402
from scrambler.formats import frames as to_frames  # noqa: E402
from scrambler.spec import load_spec  # noqa: E402


def _rows(path: Path) -> int:
    import pyreadstat

    suffix = path.suffix
    if path.name == "codebook.csv":
        return -1  # the CSV export's codebook: no table rows
    if suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if suffix == ".csv":
        return len(pd.read_csv(path, usecols=[0]))
    if suffix == ".dta":
        return pyreadstat.read_dta(path, metadataonly=True)[1].number_rows
    if suffix == ".sav":
        return pyreadstat.read_sav(path, metadataonly=True)[1].number_rows
    if suffix == ".zsav":  # every block inflated: the rows read, not the count in the header
        return len(pyreadstat.read_sav(path)[0])
    return -1  # a program (.sas) or a codebook: no rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, required=True, help="a scrambled (or population) folder")
    parser.add_argument("--spec", type=Path, default=ROOT / "constraints" / "arbeidsreserve-24-130")
    parser.add_argument("--formats", default="parquet,csv,stata,spss,zsav,sas")
    parser.add_argument("--digests", action="store_true", help="fix the clock; print a sha256 per file")
    parser.add_argument("--repeat", type=int, default=3,
                        help="writes per format; the best is compared (each run is listed in brackets)")
    args = parser.parse_args()
    if args.digests:
        _fix_clock()
    digests: list[str] = []
    spec = load_spec(args.spec)
    clock = time.perf_counter()
    frames = to_frames({p.stem: pq.read_table(p) for p in sorted(args.folder.glob("*.parquet"))})
    read_s = time.perf_counter() - clock
    rows = sum(len(f) for f in frames.values())
    codebook = spec_codebook(spec)
    print(f"{args.folder}: {len(frames)} tables, {rows:,} rows; read into pandas in {read_s:.1f} s\n")
    print("| format | seconds, best (each run) | vs Parquet | MB | vs Parquet | files | rows reopened |")
    print("|---|---|---|---|---|---|---|")
    base: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            runs = []
            for run in range(args.repeat):  # a fresh folder each time: a rewrite would replace files in place
                out = Path(tmp) / f"{fmt}-{run}"
                clock = time.perf_counter()
                files = export_tables(frames, codebook, fmt, out)
                runs.append(time.perf_counter() - clock)
                if run + 1 < args.repeat:  # the last run's files are reopened and measured below
                    shutil.rmtree(out)
            seconds = min(runs)
            size = sum(f.stat().st_size for f in files) / 1e6
            reopened = sum(max(_rows(f), 0) for f in files)
            if fmt == "parquet":
                base = (seconds, size)
            ratio = (f"{seconds / base[0]:.2f}x", f"{size / base[1]:.2f}x") if base else ("", "")
            spread = f" ({' '.join(f'{r:.2f}' for r in runs)})" if len(runs) > 1 else ""
            print(f"| {fmt} | {seconds:.2f}{spread} | {ratio[0]} | {size:.1f} | {ratio[1]} | {len(files)} | "
                  f"{reopened:,} |")
            digests += [f"{fmt}/{f.name} {hashlib.sha256(f.read_bytes()).hexdigest()[:16]}" for f in files]
    if args.digests:
        print("", *digests, sep="\n")


def _fix_clock() -> None:
    """The time stamps the Stata and SPSS writers put in their headers, fixed."""
    import scrambler.formats._dta as dta
    import scrambler.formats._sav as sav

    class Fixed(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Fixed:
            return cls(2026, 1, 1, 12, 0)

    class Clock:
        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

        def localtime(self, *_: object) -> time.struct_time:
            return time.gmtime(0)

    dta.datetime = Fixed  # type: ignore[misc]
    sav.time = Clock()  # type: ignore[assignment]


if __name__ == "__main__":
    main()
