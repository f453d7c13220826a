"""Issue 15, item 5: anonymeter's attacks against a control of persons the scrambler never read.

For each declared spec: a stand-in population, ``scramble --hold-out H`` (H persons drawn from the seed are
kept out of the scramble), then the internal report's attacks with ``--attacks`` attacks each (singling out
included), the control taken from the held-out persons: singling out (multivariate), linkability, inference of
the categorical variable with most codes, and one targeted inference per swap block with strata (guess the
stratum from the block: 24/130's work block -> the socio-economic position). Target: upper end of every 95%
interval <= 0.05. Writes a markdown table.

    /work/main/.venv/bin/python benchmarks/risk_heldout.py --out /tmp/risk.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from scrambler.check import check  # noqa: E402
from scrambler.datasets import read_dataset  # noqa: E402
from scrambler.reports import ReportSettings, write_run_reports  # noqa: E402
from scrambler.spec import load_spec  # noqa: E402

SPECS = ["arbeidsreserve-24-130", "foreign-diplomas-21-128", "flemish-measures-23-186",
         "incapacity-barometer-18-088"]


def _cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "scrambler", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"scrambler {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def _rows(name: str, attacks: dict[str, Any]) -> list[str]:
    out = []
    named = [(k, attacks[k]) for k in ("singling_out", "linkability", "inference")]
    named += [(f"inference of {b['secret']} from block ({', '.join(b['block'])})", b)
              for b in attacks.get("block_inference", [])]
    for label, x in named:
        if "skipped" in x:
            out.append(f"| {name} | {label} | skipped: {x['skipped']} | | | | | | |")
            continue
        n = x.get("attacks", attacks["n_attacks"])
        upper = x["ci"][1]
        out.append(f"| {name} | {label}{' (secret ' + x['secret'] + ')' if 'secret' in x and 'block' not in x else ''}"
                   f" | {n} | {x['risk']} | {x['ci'][0]} - {upper} | {x['attack_rate']} / {x['baseline_rate']} / "
                   f"{x['control_rate']} | {'yes' if upper <= 0.05 else '**no**'} | {x['seconds']} |"
                   + (f" {x['note']} |" if x.get("note") else " |"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", nargs="*", default=SPECS)
    ap.add_argument("--population", type=int, default=40_000)
    ap.add_argument("--hold-out", type=int, default=6_000)
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--attacks", type=int, default=2_000)
    ap.add_argument("--work", default="/tmp/risk_heldout")
    ap.add_argument("--out", default="/tmp/risk_heldout.md")
    args = ap.parse_args()
    work = Path(args.work)
    lines = [f"Population {args.population:,} persons, {args.hold_out:,} held out, {args.persons:,} scrambled, "
             f"{args.attacks:,} attacks asked per attack; control = the held-out persons.", "",
             "| spec | attack | attacks | risk | 95% interval | attack / baseline / control rate | upper <= 0.05 "
             "| seconds | anonymeter's note |", "|---|---|---|---|---|---|---|---|---|"]
    for name in args.specs:
        spec_dir = ROOT / "constraints" / name
        pop, run = work / name / "population", work / name / "run"
        clock = time.perf_counter()
        if not pop.exists():
            _cli("population", str(spec_dir), "--persons", str(args.population), "--seed", "1", "--out", str(pop))
        _cli("scramble", str(spec_dir), "--input", str(pop), "--out", str(run), "--persons", str(args.persons),
             "--seed", "1", "--hold-out", str(args.hold_out), "--no-reports", "--force")
        spec = load_spec(spec_dir)
        source, scrambled = read_dataset(spec, pop, source_ids=False), read_dataset(spec, run, source_ids=False)
        settings = ReportSettings(rows=2 * args.attacks, n_attacks=args.attacks,
                                  singling_out_attacks=args.attacks, fidelity=False)
        write_run_reports(run, scrambled, source, check(spec, run), settings=settings, out=work / name / "reports")
        attacks = json.loads((work / name / "reports" / "report_internal.json").read_text())["privacy"]["anonymeter"]
        lines += _rows(name, attacks)
        print(f"{name}: {time.perf_counter() - clock:.0f} s", file=sys.stderr)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
