"""SDV on one table: GaussianCopulaSynthesizer fitted on one of the spec's tables, with the closest SDV 2.0
constraints (``sdv.cag``) the spec's rules map to, sampled to a given number of rows and written as that table.

SDV sees one table at a time: no person links the table to the others, no rule across years is known to it
beyond what the T and T+1 columns of the one table carry. Constraints derived from the spec, per table block:
  combinations rule  -> FixedCombinations (only combinations seen in training)
  mapping rule       -> FixedCombinations of (from, to)
  compare rule between two columns of the block -> Inequality (nulls pass, as in the spec)
Everything else (130 implications, ranges against the period, transitions, steps, absorbing states, forbidden
values) has no SDV counterpart in the free version; min/max seen in training are kept (enforce_min_max_values).
The identifier is not modelled: new identifiers are assigned after sampling, disjoint from the input's.

    .venv/bin/python benchmarks/sdv_table.py --input POP_OR_SAMPLE/table1_2021.parquet --out DIR --rows N
        [--fit-rows R] [--id-start K] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from measure import SPEC

DICT = pa.dictionary(pa.int16(), pa.string())
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sdv_constraints(spec_dir: Path, table_name: str, columns: list[str]) -> tuple[list[object], list[str]]:
    from sdv.cag import FixedCombinations, Inequality

    from scrambler.spec import load_spec
    from scrambler.spec.model import CombinationsSpec, CompareSpec, MappingSpec

    spec = load_spec(str(spec_dir))
    table = next(t for n, t, _ in spec.table_names() if n == table_name)
    present = set(columns)
    out: list[object] = []
    described: list[str] = []
    used: set[str] = set()
    for block in table.blocks:
        sfx = block.suffix
        in_block = set(block.variables)
        for rule in spec.rules:
            made = None
            if isinstance(rule, (CombinationsSpec, MappingSpec)):
                names = [v + sfx for v in rule.variables]
                if set(rule.variables) <= in_block and set(names) <= present:
                    made = FixedCombinations(column_names=names)
                    text = f"FixedCombinations({', '.join(names)}) <- {rule.id}"
            elif isinstance(rule, CompareSpec) and rule.op in ("<", "<=", ">", ">="):
                left, right = rule.left.text.strip(), rule.right.text.strip()
                if NAME.match(left) and NAME.match(right) and {left, right} <= in_block \
                        and {left + sfx, right + sfx} <= present:
                    low, high = (left, right) if rule.op in ("<", "<=") else (right, left)
                    made = Inequality(low_column_name=low + sfx, high_column_name=high + sfx,
                                      strict_boundaries=rule.op in ("<", ">"))
                    names = [low + sfx, high + sfx]
                    text = f"Inequality({low + sfx} {'<' if rule.op in ('<', '>') else '<='} {high + sfx}) <- {rule.id}"
            if made is not None:
                if used & set(names):
                    text += " (overlaps: reject sampling)"
                used |= set(names)
                out.append(made)
                described.append(text)
    return out, described


def to_frame(table: pa.Table) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    frame = {}
    columns: dict[str, dict[str, str]] = {}
    for field in table.schema:
        col = table.column(field.name)
        if pa.types.is_dictionary(field.type):
            frame[field.name] = pd.Series(col.cast(pa.string()).to_pylist(), dtype=object)
            columns[field.name] = {"sdtype": "categorical"}
        elif pa.types.is_boolean(field.type):
            frame[field.name] = pd.Series(col.to_pylist(), dtype=object)
            columns[field.name] = {"sdtype": "boolean"}
        elif pa.types.is_string(field.type):  # year_month
            frame[field.name] = pd.Series(col.to_pylist(), dtype=object)
            columns[field.name] = {"sdtype": "datetime", "datetime_format": "%Y-%m"}
        else:
            frame[field.name] = pd.Series(col.to_numpy(zero_copy_only=False), dtype="float64")
            columns[field.name] = {"sdtype": "numerical"}
    return pd.DataFrame(frame), columns


def to_table(frame: pd.DataFrame, schema: pa.Schema, ids: np.ndarray) -> pa.Table:
    arrays = []
    for field in schema:
        if field.name == "person_id":
            arrays.append(pa.array(ids, pa.int64()))
            continue
        s = frame[field.name]
        if pa.types.is_dictionary(field.type):
            values = [None if pd.isna(v) else str(v) for v in s]
            arrays.append(pa.array(values, pa.string()).dictionary_encode().cast(DICT))
        elif pa.types.is_boolean(field.type):
            arrays.append(pa.array([None if pd.isna(v) else bool(v) for v in s], pa.bool_()))
        elif pa.types.is_string(field.type):
            if pd.api.types.is_datetime64_any_dtype(s):
                values = [None if pd.isna(v) else v.strftime("%Y-%m") for v in s]
            else:
                values = [None if pd.isna(v) else str(v) for v in s]
            arrays.append(pa.array(values, pa.string()))
        elif pa.types.is_integer(field.type):
            arrays.append(pa.array(pd.to_numeric(s).round().astype("Int64"), pa.int64()))
        else:
            arrays.append(pa.array(pd.to_numeric(s).astype("float64"), pa.float64(), from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, type=Path, help="a table's Parquet file (fit data)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--rows", required=True, type=int, help="rows to sample")
    parser.add_argument("--fit-rows", type=int, default=0, help="fit on this many random rows (0: all)")
    parser.add_argument("--id-start", type=int, default=10**12, help="first new identifier")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    clock = time.perf_counter()
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    timings = {"import_sdv": time.perf_counter() - clock}
    clock = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    table_name = args.input.stem
    table = pq.read_table(args.input)
    if 0 < args.fit_rows < table.num_rows:
        table = table.take(pa.array(np.sort(rng.choice(table.num_rows, args.fit_rows, replace=False))))
    schema = table.schema
    frame, columns = to_frame(table.drop_columns(["person_id"]))
    metadata = Metadata.load_from_dict({"tables": {table_name: {"columns": columns}}})
    constraints, described = sdv_constraints(args.spec, table_name, list(frame.columns))
    synth = GaussianCopulaSynthesizer(metadata, enforce_min_max_values=True)
    synth.add_constraints(constraints)
    timings["prepare"] = time.perf_counter() - clock
    clock = time.perf_counter()
    synth.fit({table_name: frame})
    timings["fit"] = time.perf_counter() - clock
    clock = time.perf_counter()
    np.random.seed(args.seed)
    sample = synth.sample(num_rows=args.rows)
    if isinstance(sample, dict):
        sample = sample[table_name]
    timings["sample"] = time.perf_counter() - clock
    clock = time.perf_counter()
    ids = args.id_start + rng.permutation(len(sample)).astype(np.int64)
    args.out.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_table(sample, schema, ids), args.out / f"{table_name}.parquet")
    timings["write"] = time.perf_counter() - clock
    print(json.dumps({"table": table_name, "fit_rows": table.num_rows, "columns": len(frame.columns),
                      "rows_requested": args.rows, "rows_sampled": len(sample), "constraints": described,
                      "timings_s": {k: round(v, 2) for k, v in timings.items()}}))


if __name__ == "__main__":
    main()
