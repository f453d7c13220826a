"""Side-by-side benchmark on one stand-in population: the floor, scrambler and SDV.

    .venv/bin/python benchmarks/compare.py --population N --sample S --persons M --out DIR [--seed 1]
        [--sdv-rows 50000] [--skip-sdv] [--profile] [--reports]

1. The stand-in population (``scrambler population``, the 24/130 spec) is generated once into DIR/population
   and reused when its manifest says N persons and the same seed; the phase-1 sample likewise (DIR/sample).
2. Each system runs as its own subprocess, so wall time, CPU time (user+sys) and peak memory (RSS, via
   ``/usr/bin/time -v`` or psutil polling) are per system, interpreter start and imports included:
     a. floor      benchmarks/floor.py: read the tables, new ids, permute every column, write the six tables;
     b. scrambler  ``scrambler scramble --no-reports`` (the full pipeline, its own independent check included;
                   ``--reports`` writes the reports too);
     c. SDV        benchmarks/sdv_table.py: GaussianCopulaSynthesizer on table1_2021 only (T and T+1 blocks),
                   fitted on the phase-1 sample and on a random subsample of --sdv-rows population rows, with
                   the sdv.cag constraints the spec maps to; samples as many rows as M persons fill that table.
3. Each output is evaluated outside the timed run:
   - violations: ``scrambler.check.check`` on all six tables, and on table1_2021 alone (spec restricted to that
     table: its rules, its two periods) so that SDV can be compared at all;
   - coverage: share of the input's categories (categorical and boolean columns, every table block, i.e. per
     column of every table) that the output holds, computed with pyarrow on the written tables;
   - exact copies: output person-period records (block T of table1_T: every published variable of the
     period) equal to an input person-period record of the same table, counted with a pandas inner join on
     all those columns (nulls compare equal), independently of scrambler's own guard.
4. One table is printed (markdown) with the ratios b/a and c/b, and saved in DIR/results.md and results.json.
   ``--profile`` then reruns the scramble under cProfile and prints the 15 most expensive functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from measure import ROOT, SPEC, Run, format_machine, machine, run, scrambler_command

HERE = Path(__file__).resolve().parent
SDV_TABLE = "table1_2021"
NULL = "\x00null"


# ---- inputs ---------------------------------------------------------------------------------------------------


def _manifest(folder: Path) -> dict[str, object]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def ensure_population(out: Path, persons: int, seed: int, spec: Path, fingerprint: str) -> tuple[Path, Run | None]:
    folder = out / "population"
    m = _manifest(folder)
    if (m.get("persons"), m.get("seed"), m.get("kind"), m.get("spec_fingerprint")) == (
            persons, seed, "population", fingerprint):
        print(f"reusing the stand-in population in {folder} ({persons} persons, seed {seed})")
        return folder, None
    r = run("population", [*scrambler_command(), "population", str(spec), "--persons", str(persons), "--out",
                           str(folder), "--seed", str(seed), "--force"], out / "logs")
    if not r.ok():
        sys.exit(f"population failed:\n{r.tail()}")
    return folder, r


def ensure_sample(out: Path, population: Path, persons: int, seed: int) -> Path:
    folder = out / "sample"
    m = _manifest(folder)
    fresh = folder.joinpath("manifest.json").is_file() and \
        folder.joinpath("manifest.json").stat().st_mtime >= population.joinpath("manifest.json").stat().st_mtime
    if fresh and m.get("persons") == persons and m.get("seed") == seed and m.get("from") == str(population):
        print(f"reusing the phase-1 sample in {folder} ({persons} persons)")
        return folder
    r = run("sample", [*scrambler_command(), "sample", str(population), "--persons", str(persons), "--out",
                       str(folder), "--seed", str(seed), "--force"], out / "logs")
    if not r.ok():
        sys.exit(f"sample failed:\n{r.tail()}")
    return folder


# ---- evaluation -----------------------------------------------------------------------------------------------


def restricted(spec, table_name):  # type: ignore[no-untyped-def]
    """The spec with only ``table_name`` (one table spec, one period): check() then asks for that table only."""
    for name, table, period in spec.table_names():
        if name == table_name:
            return replace(spec, tables=(replace(table, periods=(period,)),))
    raise KeyError(table_name)


def read_folder(folder: Path) -> dict[str, pa.Table]:
    return {p.stem: pq.read_table(p) for p in sorted(folder.glob("*.parquet"))}


def violations(spec, tables: dict[str, pa.Table]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from scrambler.check import check

    report = check(spec, tables)
    rule_rows = sum(r.violations for r in report.results)
    broken = sum(1 for r in report.results if r.violations)
    return {"rows": rule_rows, "rules_broken": broken, "rules": len(report.results),
            "structural": len(report.issues), "checked": sum(r.checked for r in report.results)}


def categorical_columns(spec, table_name: str) -> list[str]:  # type: ignore[no-untyped-def]
    from scrambler.tables import table_columns

    table = next(t for n, t, _ in spec.table_names() if n == table_name)
    return [c for c, var, _ in table_columns(spec, table) if var.is_categorical and var.publish]


def _values(table: pa.Table, column: str) -> set[str]:
    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return {str(v) for v in pc.unique(col).drop_null().to_pylist()}


def coverage(spec, source: dict[str, pa.Table], out: dict[str, pa.Table],  # type: ignore[no-untyped-def]
             only: str | None = None) -> tuple[int, int]:
    """(input categories the output holds, input categories) over every categorical column of every table."""
    held = total = 0
    for name, table in source.items():
        if only and name != only:
            continue
        for column in categorical_columns(spec, name):
            wanted = _values(table, column)
            got = _values(out[name], column) if name in out and column in out[name].column_names else set()
            total += len(wanted)
            held += len(wanted & got)
    return held, total


def person_period_columns(spec, table_name: str) -> list[str]:  # type: ignore[no-untyped-def]
    from scrambler.tables import table_columns

    table = next(t for n, t, _ in spec.table_names() if n == table_name)
    return [c for c, var, offset in table_columns(spec, table)
            if offset == 0 and var.type != "identifier" and var.publish]


def _normalised(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    """Every column as text, nulls as one marker: equal values compare equal whatever the Arrow type."""
    frame = {}
    for c in columns:
        col = table.column(c)
        if pa.types.is_floating(col.type):
            col = pc.round(col, 6)
        col = pc.fill_null(pc.cast(col, pa.string()), NULL)
        frame[c] = col.to_numpy(zero_copy_only=False)
    return pd.DataFrame(frame)


def copies(spec, source: dict[str, pa.Table], out: dict[str, pa.Table]) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """Per table1_T: (output person-period records equal to an input one of the same table, output records)."""
    result = {}
    for name in sorted(out):
        if not name.startswith("table1_") or name not in source:
            continue
        cols = person_period_columns(spec, name)
        left = _normalised(out[name], cols)
        right = _normalised(source[name], cols).drop_duplicates()
        result[name] = (len(left.merge(right, how="inner", on=cols)), len(left))
    return result


def evaluate(spec, source: dict[str, pa.Table], folder: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out = read_folder(folder)
    clock = time.perf_counter()
    res: dict[str, object] = {"tables": sorted(out), "rows": sum(t.num_rows for t in out.values()),
                              "rows_by_table": {k: t.num_rows for k, t in out.items()}}
    if len(out) == len(source):
        res["violations_all"] = violations(spec, out)
        res["coverage_all"] = coverage(spec, source, out)
    res["violations_one"] = violations(restricted(spec, SDV_TABLE), {SDV_TABLE: out[SDV_TABLE]})
    res["coverage_one"] = coverage(spec, source, out, only=SDV_TABLE)
    res["copies"] = copies(spec, source, out)
    res["evaluation_s"] = round(time.perf_counter() - clock, 1)
    return res


# ---- table ----------------------------------------------------------------------------------------------------


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _viol(v: dict[str, int] | None) -> str:
    if not v:
        return "n/a (one table only)"
    text = f"{_n(v['rows'])} in {v['rules_broken']}/{v['rules']} rules"
    return text + (f" + {v['structural']} structural" if v["structural"] else "")


def _cov(c: tuple[int, int] | None) -> str:
    if not c:
        return "n/a (one table only)"
    return f"{100 * c[0] / c[1]:.1f}% ({c[0]}/{c[1]})" if c[1] else "n/a"


def _copies(c: dict[str, tuple[int, int]], only: str | None = None) -> str:
    items = [v for k, v in c.items() if only is None or k == only]
    if not items:
        return "n/a"
    same, total = sum(v[0] for v in items), sum(v[1] for v in items)
    return f"{_n(same)} of {_n(total)}"


def table(rows: list[dict[str, object]]) -> str:
    head = ["system", "what it writes", "wall s", "CPU s", "peak MiB", "rows written", "rows/s (wall)",
            "violations, 6 tables (check)", f"violations, {SDV_TABLE} alone", "categories covered, 6 tables",
            f"categories covered, {SDV_TABLE}", "person-period copies, table1_T", f"copies, {SDV_TABLE}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ev = r.get("eval") or {}
        rn: Run = r["run"]  # type: ignore[assignment]
        if not rn.ok():
            lines.append(f"| {r['name']} | {r['what']} | {rn.wall_s:.1f} | {rn.cpu_s:.1f} | {rn.peak_mib:.0f} | "
                         "failed: see logs |" + " |" * (len(head) - 6))
            continue
        rows_out = int(ev.get("rows", 0))  # type: ignore[call-overload]
        cells = [r["name"], r["what"], f"{rn.wall_s:.1f}", f"{rn.cpu_s:.1f}", f"{rn.peak_mib:,.0f}", _n(rows_out),
                 _n(rows_out / rn.wall_s), _viol(ev.get("violations_all")),  # type: ignore[arg-type]
                 _viol(ev.get("violations_one")), _cov(ev.get("coverage_all")),  # type: ignore[arg-type]
                 _cov(ev.get("coverage_one")), _copies(ev["copies"]),  # type: ignore[arg-type, index]
                 _copies(ev["copies"], SDV_TABLE)]  # type: ignore[arg-type, index]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, object]]) -> str:
    by = {r["key"]: r["run"] for r in rows}
    ev = {r["key"]: r.get("eval") or {} for r in rows}
    out = []

    def line(label: str, num: str, den: str) -> None:
        a, b = by.get(num), by.get(den)
        if a is None or b is None or not a.ok() or not b.ok():  # type: ignore[attr-defined]
            return
        ra = ev[num].get("rows", 0) / a.wall_s  # type: ignore[attr-defined, operator]
        rb = ev[den].get("rows", 0) / b.wall_s  # type: ignore[attr-defined, operator]
        out.append(f"- {label}: wall {a.wall_s / b.wall_s:.2f}x, CPU {a.cpu_s / b.cpu_s:.2f}x, "  # type: ignore[attr-defined]
                   f"peak memory {a.peak_mib / b.peak_mib:.2f}x; per row written {rb / ra:.2f}x")  # type: ignore[attr-defined]

    line("b/a (scrambler / floor)", "scrambler", "floor")
    for key in by:
        if key.startswith("sdv"):
            line(f"c/b ({key} / scrambler)", key, "scrambler")
    return "\n".join(out)


# ---- main -----------------------------------------------------------------------------------------------------


def profile(out: Path, population: Path, persons: int, seed: int, spec: Path, extra: list[str]) -> str:
    import pstats

    prof = out / "scramble.prof"
    r = run("profile", [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "scrambler", "scramble", str(spec),
                        "--input", str(population), "--out", str(out / "out" / "scrambler_profiled"), "--persons",
                        str(persons), "--seed", str(seed), "--force", *extra], out / "logs")
    if not r.ok():
        return f"profile run failed:\n{r.tail()}"
    import io

    text = io.StringIO()
    stats = pstats.Stats(str(prof), stream=text)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, default=200_000, help="persons in the stand-in population")
    parser.add_argument("--sample", type=int, default=10_000, help="persons in the phase-1 sample (SDV fit)")
    parser.add_argument("--persons", type=int, default=100_000, help="persons to produce")
    parser.add_argument("--out", type=Path, required=True, help="work folder (population reused from here)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sdv-rows", type=int, default=50_000, help="rows of the larger SDV fit subsample")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--skip-sdv", action="store_true")
    parser.add_argument("--profile", action="store_true", help="then profile the scramble (cProfile)")
    parser.add_argument("--reports", action="store_true", help="the scrambler run writes its reports too "
                        "(default: --no-reports, as the issue's targets are stated)")
    args = parser.parse_args()
    command = ".venv/bin/python " + " ".join(sys.argv)
    started = time.perf_counter()
    info = machine()
    print(format_machine(info), flush=True)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    from scrambler.spec import load_spec

    spec = load_spec(str(args.spec))
    population, pop_run = ensure_population(out, args.population, args.seed, args.spec, spec.fingerprint)
    source = read_folder(population)
    pop_persons = len(np.unique(np.concatenate([t.column("person_id").to_numpy() for t in source.values()])))
    id_start = int(max(pc.max(t.column("person_id")).as_py() for t in source.values())) + 1
    sdv_rows = round(args.persons * source[SDV_TABLE].num_rows / pop_persons)

    rows: list[dict[str, object]] = []

    def system(key: str, name: str, what: str, cmd: list[str], folder: Path) -> None:
        r = run(key, cmd, logs)
        entry: dict[str, object] = {"key": key, "name": name, "what": what, "run": r}
        if r.ok():
            entry["eval"] = evaluate(spec, source, folder)
            print(f"[{key}] evaluated in {entry['eval']['evaluation_s']} s", flush=True)  # type: ignore[index]
        else:
            print(r.tail(), flush=True)
        rows.append(entry)

    folder = out / "out" / "floor"
    system("floor", "a. floor", f"6 tables, {args.persons:,} persons, columns permuted",
           [sys.executable, str(HERE / "floor.py"), "--input", str(population), "--out", str(folder), "--persons",
            str(args.persons), "--seed", str(args.seed)], folder)
    folder = out / "out" / "scrambler"
    # the issue's targets are without reports (`scrambler report` measures those on its own); --reports adds them
    reports = [] if args.reports else ["--no-reports"]
    what = "full pipeline + check" + (" + reports" if args.reports else ", no reports")
    system("scrambler", "b. scrambler", f"6 tables, {args.persons:,} persons, {what}",
           [*scrambler_command(), "scramble", str(args.spec), "--input", str(population), "--out", str(folder),
            "--persons", str(args.persons), "--seed", str(args.seed), "--force", *reports], folder)
    if not args.skip_sdv:
        sample = ensure_sample(out, population, args.sample, args.seed)
        for key, fit_input, fit_rows, label in (
                ("sdv-sample", sample / f"{SDV_TABLE}.parquet", 0, f"fit on the {args.sample:,}-person sample"),
                (f"sdv-{args.sdv_rows}", population / f"{SDV_TABLE}.parquet", args.sdv_rows,
                 f"fit on {min(args.sdv_rows, source[SDV_TABLE].num_rows):,} population rows")):
            folder = out / "out" / key
            system(key, f"c. SDV GaussianCopula, {label}", f"{SDV_TABLE} only, {sdv_rows:,} rows",
                   [sys.executable, str(HERE / "sdv_table.py"), "--input", str(fit_input), "--out", str(folder),
                    "--rows", str(sdv_rows), "--fit-rows", str(fit_rows), "--id-start", str(id_start), "--seed",
                    str(args.seed)], folder)
            r = rows[-1]["run"]
            if r.ok():  # type: ignore[attr-defined]
                detail = json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]
                rows[-1]["sdv"] = detail
                print(f"[{key}] {json.dumps(detail['timings_s'])}; rows {detail['rows_sampled']} of "
                      f"{detail['rows_requested']} requested; {len(detail['constraints'])} constraints")

    scr = _manifest(out / "out" / "scrambler")
    md = [f"population {args.population:,} persons ({sum(t.num_rows for t in source.values()):,} rows in 6 tables"
          + (f", generated in {pop_run.wall_s:.1f} s wall, {pop_run.cpu_s:.1f} s CPU, peak {pop_run.peak_mib:,.0f} MiB"
             if pop_run else ", reused") + f"); phase-1 sample {args.sample:,}; output {args.persons:,} persons",
          "", table(rows), "", ratios(rows), ""]
    if scr.get("timings_s"):
        md.append(f"scrambler stages (its manifest): {json.dumps(scr['timings_s'])}")
    for r in rows:
        if "sdv" in r:
            d = r["sdv"]
            md.append(f"{r['key']}: fit on {d['fit_rows']:,} rows x {d['columns']} columns, "  # type: ignore[index]
                      f"stages {json.dumps(d['timings_s'])}, sampled {d['rows_sampled']:,} of "  # type: ignore[index]
                      f"{d['rows_requested']:,} rows requested")  # type: ignore[index]
    sdv_detail = next((r["sdv"] for r in rows if "sdv" in r), None)
    if sdv_detail:
        md.append("SDV constraints (sdv.cag) derived from the spec: "
                  + "; ".join(sdv_detail["constraints"]))  # type: ignore[index]
    md += ["", f"peak memory measured with {rows[0]['run'].peak_method}" if rows else "",  # type: ignore[attr-defined]
           f"total benchmark time {time.perf_counter() - started:.0f} s", "", format_machine(info), "",
           f"command: `{command}`"]
    text = "\n".join(md)
    print("\n" + text)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({
        "machine": info, "command": command,
        "systems": [{k: (v.__dict__ | {"stdout": v.stdout[-2000:], "stderr": v.stderr[-2000:]} if isinstance(v, Run)
                         else v) for k, v in r.items()} for r in rows]}, indent=1, default=str))
    if args.profile:
        print(profile(out, population, args.persons, args.seed, args.spec, reports))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
