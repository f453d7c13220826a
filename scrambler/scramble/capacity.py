"""How many times coverage asks for each category of a table block: k, unless the block is too small to hold
every category k times.

A table block of R person-periods holds at most R values of a variable (nulls take rows too). When the input
shows C categories (or the code list asks for C codes) and C x k > R, no assignment at all gives every one of
them k: that is shown, by counting, before any redraw is tried. Coverage then asks each category for its equal
share, R // C (and at least 1: a category present at all is what a researcher's program needs first), and
the gaps left between that share and k are stated as impossible at this size, with the count that shows it.
Without the share, a 200-person run of a 28-quarter spec spent 100 s of redraws on 88 sectors in 157 rows, and every
category the loop could not finish ended "not reached".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrambler.panel import Panel


@dataclass(frozen=True)
class Target:
    """What coverage asks of each category (or tuple) of one table block."""

    k: int  # the declared k
    categories: int  # how many categories (or tuples) coverage must give k
    rows: int  # the person-periods of the block in the output

    @property
    def limited(self) -> bool:
        """Counting shows that not every category can have k here."""
        return self.categories * self.k > self.rows

    @property
    def share(self) -> int:
        """The largest equal share every category can have: k, or rows // categories (0 when there are more
        categories than rows)."""
        return self.k if not self.limited else self.rows // self.categories

    @property
    def ask(self) -> int:
        """What coverage asks of each category: its share, and at least 1 (one present is what a program
        needs first; which ones fit is then the draw's)."""
        return max(1, self.share)

    def reason(self) -> str:
        """Why a category of this block that holds its share but not k cannot have k: the count."""
        held = (f"each was given its share, {self.share}" if self.share else
                "there are more categories than rows, so not every one can appear even once")
        return (f"too few rows at this size: the table block holds {self.rows} person-period(s) and coverage must "
                f"give {self.categories} categories k={self.k} each ({self.categories * self.k} > {self.rows}), "
                f"so not all can reach k; {held} (scramble more persons to cover more)")


Floors = dict[tuple[str, str], dict["str | tuple[str, ...]", int]]


def table_rows(panel: Panel) -> dict[str, int]:
    """The persons of each table (present at its period): the rows every block of the table has."""
    index = {p: i for i, p in enumerate(panel.periods)}
    return {name: int(panel.present[index[period]].sum()) for name, _, period in panel.spec.table_names()}


def floors_by_block(targets: Mapping[Any, Target]) -> Floors:
    """Per table block, what coverage asks of each category of a variable or combination: also the floor
    below which it takes no row of a category (see ``moves.spare_rows``)."""
    out: Floors = {}
    for (table, suffix, what), target in targets.items():
        out.setdefault((table, suffix), {})[what] = target.ask
    return out
