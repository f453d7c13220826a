"""Variables from their values: type, code list, static or periodic, scope, nullability and range, plus the
encoded person x period arrays the miners read (codes with -1 for null, numbers with NaN for null)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from scrambler.draft.layout import Layout
from scrambler.spec.time import parse_period

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
QUARTER = re.compile(r"^\d{4}Q[1-4]$")
CLASS = re.compile(r"^(<|<=|>|>=)?\s*(\d+(\.\d+)?)\s*(-\s*\d+(\.\d+)?|\+)?$")
YEAR_NAME = re.compile(r"(^|_)(year|yr|jaar|annee|start|birth|since|until)(_|$)")
BOOL_TEXT = {"true": 1, "false": 0, "True": 1, "False": 0}
TIME_GRAIN = {"year": "year", "year_month": "month", "year_quarter": "quarter"}


@dataclass
class DraftVariable:
    name: str
    type: str
    codes: list[str] | None  # categorical, ordinal (in order) and boolean (false, true)
    timing: str
    scope: str
    required: bool
    minimum: float | str | None
    maximum: float | str | None
    decimals: int
    observed: np.ndarray  # over the present rows: is the variable shown there
    code: np.ndarray | None  # categorical-like: code index, -1 = null
    number: np.ndarray | None  # numeric and time: value (time in its grain's integers), NaN = null

    @property
    def categorical(self) -> bool:
        return self.code is not None


def nice(value: float, up: bool) -> float:
    """Round a bound outward to two significant digits: a published range should not quote one person's
    extreme value."""
    if value == 0 or not math.isfinite(value):
        return value
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    out = (math.ceil(value / step) if up else math.floor(value / step)) * step
    return float(round(out, 10))


def _decimals(values: np.ndarray) -> int:
    for d in range(11):
        if np.all(np.abs(np.round(values, d) - values) <= 1e-9 * np.maximum(1.0, np.abs(values))):
            return d
    return 10


def _class_key(code: str) -> float:
    m = CLASS.match(code)
    return float(m.group(2)) if m else math.inf


def infer_type(name: str, types: list[pa.DataType], values: pd.Series, max_codes: int,
               labelled: bool = False) -> tuple[str, pd.Series]:
    """The spec type of a variable and its non-null values normalised for it (numbers as floats, codes as
    texts). A column with value labels is a code list whatever its storage."""
    if labelled:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().all() and (numbers == np.round(numbers)).all():
            return "categorical", numbers.astype(np.int64).astype(str)
        return "categorical", values.astype(str).str.strip()
    if any(pa.types.is_boolean(t) for t in types):
        return "boolean", values.astype(bool).astype(int).astype(str).map({"1": "true", "0": "false"})
    numeric = all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t) for t in types)
    if not numeric:
        texts = values.astype(str).str.strip()
        if len(texts) and texts.isin(list(BOOL_TEXT)).all():
            return "boolean", texts.map(BOOL_TEXT).map({1: "true", 0: "false"})
        if len(texts) and texts.str.match(MONTH).all():
            return "year_month", texts
        if len(texts) and texts.str.match(QUARTER).all():
            return "year_quarter", texts
        # text stays codes (a reader turns a CSV's numbers into numbers): classes like 15-19 are ordered
        ordered = any(pa.types.is_dictionary(t) and t.ordered for t in types) or (
            len(texts) > 0 and texts.str.match(CLASS).all() and texts.str.contains(r"-|\+|<|>").any())
        return ("ordinal" if ordered else "categorical"), texts
    numbers = values.astype(float)
    if len(numbers) and (numbers == np.round(numbers)).all():
        distinct = numbers.unique()
        if set(distinct) <= {0.0, 1.0} and len(distinct) == 2:
            return "boolean", numbers.map({1.0: "true", 0.0: "false"})
        if YEAR_NAME.search(name) and numbers.between(1800, 2200).all():
            return "year", numbers
        if len(distinct) <= max_codes:
            return "ordinal", numbers.astype(np.int64).astype(str)
        return "integer", numbers
    return "decimal", numbers


def infer_variables(layout: Layout, k: int, max_codes: int, moving: set[str]) -> dict[str, DraftVariable]:
    """``moving``: variables shown in a block at another period, which cannot be static."""
    present = layout.present.sort_values()
    layout.present = present
    ids = present.get_level_values(0)
    out: dict[str, DraftVariable] = {}
    for name, cells in layout.cells.items():
        nonnull = cells.dropna()
        vtype, norm = infer_type(name, layout.columns[name], nonnull, max_codes, name in layout.value_labels)
        observed = np.asarray(present.isin(cells.index))
        full = pd.Series(np.nan, index=cells.index, dtype=object)
        full.loc[norm.index] = norm.to_numpy()
        here = full.reindex(present)
        shown = here[observed]
        required = bool(len(shown)) and bool(shown.notna().all())
        per_person = pd.Series(shown.astype(str).to_numpy(), index=ids[observed]).groupby(level=0)
        counts = per_person.size()
        # static: one value per person, persons differ, and enough persons were seen twice to tell
        static = (name not in moving and bool((counts >= 2).sum() >= k) and shown.nunique() >= 2
                  and bool((per_person.nunique(dropna=False) <= 1).all()))
        absent = ~cells.index.isin(present)
        scope = "always" if bool(cells[absent].notna().any()) else "present"
        if scope == "always":
            static = False
        if static:  # a static value holds at every period of the person, as the checker reads it
            first = pd.Series(shown.to_numpy(), index=ids[observed]).groupby(level=0).first()
            here = pd.Series(first.reindex(ids).to_numpy(), index=present)
            observed = np.asarray(ids.isin(first.index))
        codes: list[str] | None = None
        code = number = None
        minimum: float | str | None = None
        maximum: float | str | None = None
        decimals = 0
        if vtype in ("categorical", "ordinal", "boolean"):
            if vtype == "boolean":
                codes = ["false", "true"]
            else:
                codes = sorted(set(norm), key=lambda c: (_class_key(c), _num_key(c), c)) if vtype == "ordinal" \
                    else sorted(set(norm), key=lambda c: (_num_key(c), c))
            lookup = {c: i for i, c in enumerate(codes)}
            code = here.map(lookup).fillna(-1).to_numpy().astype(np.int64)
        elif vtype in TIME_GRAIN:
            grain = TIME_GRAIN[vtype]
            parsed = {v: parse_period(v if vtype != "year" else int(v), grain) for v in norm.unique()}
            number = here.map(parsed).astype(float).to_numpy()
            if parsed:
                lo_text = min(parsed, key=parsed.__getitem__)
                hi_text = max(parsed, key=parsed.__getitem__)
                minimum, maximum = (int(lo_text), int(hi_text)) if vtype == "year" else (str(lo_text), str(hi_text))
        else:
            number = here.astype(float).to_numpy()
            if len(norm):
                vals = norm.astype(float).to_numpy()
                decimals = 0 if vtype == "integer" else _decimals(vals)
                low, high = nice(float(vals.min()), False), nice(float(vals.max()), True)
                minimum, maximum = (int(low), int(high)) if vtype == "integer" else (low, high)
        out[name] = DraftVariable(name=name, type=vtype, codes=codes, timing="static" if static else "period",
                                  scope=scope, required=required, minimum=minimum, maximum=maximum,
                                  decimals=decimals, observed=observed, code=code, number=number)
    return out


def _num_key(code: str) -> float:
    try:
        return float(code)
    except ValueError:
        return math.inf
