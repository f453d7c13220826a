"""Argument types and range checks shared by the commands, so a bad number is a clear error, not a traceback
from deep inside numpy (``--seed -1``) or a silent nonsense run (``--k 0``)."""

from __future__ import annotations

import argparse
import re

from scrambler.errors import Issue, ScramblerError

# option attribute -> (smallest allowed value, option as the user writes it)
MINIMUM = {"seed": (0, "--seed"), "k": (1, "--k"), "partitions": (1, "--partitions"), "rows": (1, "--rows"),
           "attacks": (0, "--attacks"), "small_cell": (1, "--small-cell"), "persons": (1, "--persons"),
           "population": (1, "--population"), "sample": (1, "--sample"), "scrambled": (1, "--scrambled")}


def count(text: str) -> int:
    """A whole number, also written as 1e9 or 1_000_000 (what people type for large person counts)."""
    cleaned = text.strip().replace("_", "")
    if re.fullmatch(r"[+-]?\d+", cleaned):
        return int(cleaned)
    if re.fullmatch(r"[+-]?\d+(\.\d+)?[eE]\+?\d+", cleaned):
        value = float(cleaned)
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
    raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")


def check_arguments(args: argparse.Namespace) -> None:
    """Every known numeric option within its range; all problems in one error."""
    issues = []
    for name, (low, option) in MINIMUM.items():
        value = getattr(args, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value < low:
            issues.append(Issue(code="bad-value", message=f"{option} must be at least {low}, got {value}"))
    if issues:
        raise ScramblerError(issues)
