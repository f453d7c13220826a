"""Which cells of a panel its tables publish, known from the spec alone (presence decides the rest)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def partly_published(periods: Sequence[int], tables: Iterable[Any], variables: Iterable[Any]
                     ) -> dict[str, dict[int, tuple[int, ...]]]:
    """``DatasetSpec.partly_published`` from its panel periods, tables and data variables (this module reads
    no spec class: the model calls it). Per periodic variable, the period indexes t where no table of period
    t shows it, each with the indexes t0 of the table periods that show it at t through an offset block
    (t0 + offset = t; none: never published at t). A cell (t, person) there is published only if the person is present at one of
    those t0; at every other period every present cell is. A check of the tables sees only published values,
    so the sampler keeps rules across time between those too (``sampling.rules.published_neighbours``)."""
    index = {p: i for i, p in enumerate(periods)}
    full: dict[str, set[int]] = {}
    shown: dict[str, dict[int, set[int]]] = {}
    for table in tables:
        for period in table.periods:
            t0 = index[period]
            for block in table.blocks:
                for name in block.variables:
                    if block.offset == 0:
                        full.setdefault(name, set()).add(t0)
                    else:
                        shown.setdefault(name, {}).setdefault(t0 + block.offset, set()).add(t0)
    out = {}
    for var in variables:
        if var.is_static:
            continue
        hidden = {t: tuple(sorted(shown.get(var.name, {}).get(t, ()))) for t in range(len(index))
                  if t not in full.get(var.name, set())}
        if hidden:
            out[var.name] = hidden
    return out
