"""Coverage per categorical variable and category: counts over the published table blocks (a person counts
once per table block that shows the variable) in the input, the phase-1 sample (if given) and the
scrambled data."""

from __future__ import annotations

from typing import Any

import numpy as np

from scrambler.spec.model import DatasetSpec, Variable


def _label(var: Variable, code: str) -> str:
    if var.codelist is None or code not in var.codelist:
        return code
    return var.codelist.label(code)


def variable_label(var: Variable) -> str:
    return var.label.get("en") or next(iter(var.label.values()), var.name)


def coverage(spec: DatasetSpec, counts: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """One entry per categorical variable: categories present per dataset, what the sample misses and how
    many of those the scrambled data hold, and per code the count in each dataset. ``counts``: per dataset
    (input, sample, scrambled) its code counts per variable (``coverage.variable_totals``)."""
    out = []
    for var in spec.published_variables:
        if not var.is_categorical or not any(var.name in c for c in counts.values()):
            continue
        zero = np.zeros(len(var.codes), dtype=np.int64)
        per = {name: np.asarray(c.get(var.name, zero), dtype=np.int64) for name, c in counts.items()}
        entry: dict[str, Any] = {
            "variable": var.name, "label": variable_label(var), "codes": len(var.codes),
            "present": {name: int((v > 0).sum()) for name, v in per.items()},
            "categories": [{"code": code, "label": _label(var, code), **{n: int(v[i]) for n, v in per.items()}}
                           for i, code in enumerate(var.codes)]}
        if "sample" in per and "input" in per:
            missed = (per["input"] > 0) & (per["sample"] == 0)
            entry["sample_misses"] = int(missed.sum())
            entry["scrambled_covers"] = int((missed & (per.get("scrambled", zero) > 0)).sum())
        if "input" in per and "scrambled" in per:
            entry["scrambled_misses"] = int(((per["input"] > 0) & (per["scrambled"] == 0)).sum())
        out.append(entry)
    return out
