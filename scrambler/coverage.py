"""Category counts per table block, and the coverage comparison that shows what a sample misses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scrambler.panel import Panel
from scrambler.spec.model import DatasetSpec

BlockKey = tuple[str, str, str]  # (table, block suffix, variable)


def block_counts(panel: Panel) -> dict[BlockKey, np.ndarray]:
    """Counts of each code per (table, block, categorical variable), over the table's rows."""
    spec = panel.spec
    index = {p: i for i, p in enumerate(panel.periods)}
    out: dict[BlockKey, np.ndarray] = {}
    # Tables of the same period share their rows: count each (period, block period, variable) once.
    done: dict[tuple[int, int, str], np.ndarray] = {}
    whole: dict[tuple[int, str], np.ndarray] = {}
    for name, table, period in spec.table_names():
        t0 = index[period]
        absent = np.nonzero(~panel.present[t0])[0]  # a few rows: gathered by index, not by a full-length mask
        for block in table.blocks:
            t = t0 + block.offset
            for var_name in block.variables:
                var = spec.variables[var_name]
                if not var.is_categorical:
                    continue
                key = (t0, t, var_name)
                if key not in done:
                    values = panel.values(var_name, t)
                    # most persons are present: count all persons once per variable and period, then take
                    # off the few absent (a gather of the present rows of millions of values per variable
                    # and table was the cost of coverage at scale)
                    whole_key = (-1 if var.is_static else t, var_name)
                    if whole_key not in whole:
                        whole[whole_key] = count_codes(values, len(var.codes))
                    done[key] = whole[whole_key] - count_codes(values[absent], len(var.codes))
                out[(name, block.suffix, var_name)] = done[key]
    return out


#: up to this many codes, one comparison per code counts faster than a bincount: bincount casts every value to
#: a machine integer first (18 ms per 7.5 million int16 codes, whatever k; a comparison pass ~1 ms per code)
FEW_CODES = 12


def count_codes(values: np.ndarray, k: int) -> np.ndarray:
    """Counts of codes 0..k-1, nulls (-1) left out. int8 codes are read as uint8 (null -> 255), which spares
    two filtering passes over millions of rows."""
    if k <= FEW_CODES:
        # booleans and short code lists, most of a panel's categorical columns: 13.8 s of counting the
        # categories of a 7.5 million-person input went to bincount's casts
        return np.array([np.count_nonzero(values == code) for code in range(k)], dtype=np.intp)
    if values.dtype == np.int8:
        return np.bincount(values.view(np.uint8), minlength=256)[:k]
    # shifted by one, null lands in slot 0 and is dropped: no mask and gather (half the time of a count)
    return np.bincount(values.astype(np.intp) + 1, minlength=k + 1)[1:]


def variable_counts(panel: Panel) -> dict[str, np.ndarray]:
    """Counts of each code per categorical variable, summed over every table block."""
    return variable_totals(block_counts(panel))


def variable_totals(blocks: dict[BlockKey, np.ndarray]) -> dict[str, np.ndarray]:
    """Block counts summed per variable over its table blocks."""
    out: dict[str, np.ndarray] = {}
    for (_, _, var), counts in blocks.items():
        out[var] = out.get(var, 0) + counts
    return out


@dataclass
class CoverageRow:
    variable: str
    codes: int
    present: list[int]  # categories present in each dataset compared
    missing_examples: list[str]  # codes of the first dataset that the second misses


def compare_coverage(spec: DatasetSpec, *panels: Panel) -> list[CoverageRow]:
    """Per categorical variable: how many categories each dataset holds; what the 2nd misses of the 1st."""
    counts = [variable_counts(p) for p in panels]
    rows = []
    for var in spec.published_variables:
        if not var.is_categorical or var.name not in counts[0]:
            continue
        present = [int((c[var.name] > 0).sum()) if var.name in c else 0 for c in counts]
        missing: list[str] = []
        if len(counts) > 1:
            base = counts[0][var.name] > 0
            other = counts[1].get(var.name, np.zeros_like(counts[0][var.name])) > 0
            missing = [var.codes[i] for i in np.nonzero(base & ~other)[0]]
        rows.append(CoverageRow(variable=var.name, codes=len(var.codes), present=present, missing_examples=missing))
    return rows


def format_coverage(rows: list[CoverageRow], names: list[str]) -> str:
    header = f"{'variable':<34}{'codes':>6}" + "".join(f"{n:>12}" for n in names)
    if len(names) > 1:
        header += f"{'missed by ' + names[1]:>20}"
    lines = [header, "-" * len(header)]
    for r in rows:
        line = f"{r.variable:<34}{r.codes:>6}" + "".join(f"{p:>12}" for p in r.present)
        if len(names) > 1:
            line += f"{len(r.missing_examples):>20}"
        lines.append(line)
    if len(names) > 1:
        total = sum(len(r.missing_examples) for r in rows)
        lines.append(f"{names[1]} misses {total} categories that {names[0]} has, in "
                     f"{sum(1 for r in rows if r.missing_examples)} variables")
    return "\n".join(lines)
