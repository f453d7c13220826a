"""A held-out control: input persons the scrambler never reads, kept apart so that the report's attacks can
measure success on the input against success on real persons the scrambled data could not have learnt from.

A control cut from the input after the run is itself input (the scrambler read all of it), which biases every
risk towards 0. The split is a function of the input's size, the count and the seed alone, so the report,
which re-reads the input, finds the same persons again.
"""

from __future__ import annotations

import numpy as np

from scrambler.errors import Issue, UnsatisfiableError
from scrambler.panel import Panel


def held_out_rows(n: int, count: int, seed: int) -> np.ndarray:
    """The sorted rows of ``count`` persons out of ``n``, drawn from the seed alone."""
    if count < 0 or count >= n:
        raise UnsatisfiableError([Issue(code="bad-argument", message=f"--hold-out must be between 0 and the "
                                        f"input's persons minus one ({n - 1}), got {count}")])
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x401D]))
    return np.sort(rng.choice(n, size=count, replace=False))


def kept_rows(n: int, held: np.ndarray) -> np.ndarray:
    """The sorted rows of the ``n`` persons that are not ``held``."""
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    return np.nonzero(keep)[0]


def drop_held_out(source: Panel, count: int, seed: int) -> None:
    """Remove the held-out persons from ``source`` in place (the scramble never sees them): a compaction, not a
    second copy of the input beside the first."""
    source.compact(kept_rows(source.n, held_out_rows(source.n, count, seed)))


def split_held_out(source: Panel, count: int, seed: int) -> tuple[Panel, Panel]:
    """(the persons the scrambler reads, the held-out control), disjoint, together the whole input."""
    held = held_out_rows(source.n, count, seed)
    return source.subset(kept_rows(source.n, held)), source.subset(held)
