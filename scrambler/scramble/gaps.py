"""A coverage gap: a category (or declared tuple) that the output holds fewer than k times in a table block."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Gap:
    table: str
    block: str
    variable: str
    code: str
    wanted: int
    got: int

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "block": self.block or "(T)", "variable": self.variable, "code": self.code,
                "wanted": self.wanted, "got": self.got}
