"""Period arithmetic: every period and time value is an integer in its grain.

year -> the year (2021); quarter -> year*4 + q-1; month -> year*12 + m-1. Converting a coarser value to a
finer grain needs an anchor inside it: ``start`` (first month), ``end`` (last month) or ``ref`` (the panel's
reference month).
"""

from __future__ import annotations

import re

import numpy as np

GRAINS = ("year", "quarter", "month")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(value: object, grain: str) -> int:
    """Parse a period literal of a grain (2019, "2014Q1", "2019-01") into its integer; ValueError if bad."""
    text = str(value).strip()
    if grain == "year":
        if not re.fullmatch(r"\d{4}", text):
            raise ValueError(f"expected a year like 2021, got {value!r}")
        return int(text)
    if grain == "quarter":
        m = _QUARTER.match(text)
        if not m:
            raise ValueError(f"expected a quarter like 2021Q4, got {value!r}")
        return int(m.group(1)) * 4 + int(m.group(2)) - 1
    if grain == "month":
        m = _MONTH.match(text)
        if not m:
            raise ValueError(f"expected a month like 2021-07, got {value!r}")
        return int(m.group(1)) * 12 + int(m.group(2)) - 1
    raise ValueError(f"unknown grain {grain!r}")


def format_period(value: int, grain: str) -> str:
    if grain == "year":
        return str(value)
    if grain == "quarter":
        return f"{value // 4}Q{value % 4 + 1}"
    return f"{value // 12}-{value % 12 + 1:02d}"


def to_months(values: np.ndarray, grain: str, anchor: str, reference_month: int) -> np.ndarray:
    """Convert values of a grain to month integers, picking the month given by ``anchor``."""
    if grain == "month":
        return values
    if grain == "quarter":
        offset = {"start": 0, "end": 2, "ref": 2}[anchor]
        return values * 3 + offset
    offset = {"start": 0, "end": 11, "ref": reference_month - 1}[anchor]
    return values * 12 + offset


def to_quarters(values: np.ndarray, grain: str, anchor: str, reference_month: int) -> np.ndarray:
    if grain == "quarter":
        return values
    if grain == "year":
        offset = {"start": 0, "end": 3, "ref": (reference_month - 1) // 3}[anchor]
        return values * 4 + offset
    raise ValueError("cannot convert months to quarters")
