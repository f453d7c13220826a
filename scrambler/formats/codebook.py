"""What the export layer knows about each column: its label, its kind and its code labels.

The exporters never look at a specification: they receive a :class:`Codebook` so that the export layer stays
independent of how datasets are specified. A codebook is keyed by *variable* name, while tables show
variables under suffixed column names (``province_next`` is the variable ``province`` one period later),
so :meth:`Codebook.lookup` resolves a column to its variable by stripping one known suffix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from scrambler.errors import Issue, SpecError

#: The kinds a column can have. "categorical" and "ordinal" hold codes (strings) described by value labels.
KINDS: frozenset[str] = frozenset(
    {"categorical", "ordinal", "boolean", "integer", "decimal", "string", "identifier"}
)
#: Kinds whose values are codes from a code list.
CODED_KINDS: frozenset[str] = frozenset({"categorical", "ordinal"})


@dataclass(frozen=True)
class ColumnInfo:
    """Metadata of one variable: English variable label, kind and (for coded kinds) code -> label."""

    name: str
    label: str
    kind: str
    value_labels: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        # Fail when the codebook is built, not halfway through writing files.
        if self.kind not in KINDS:
            raise SpecError(
                [
                    Issue(
                        code="unknown-kind",
                        message=f"kind {self.kind!r} is not one of {', '.join(sorted(KINDS))}",
                        variable=self.name,
                    )
                ]
            )

    @property
    def coded(self) -> bool:
        """True for kinds whose values are codes (categorical, ordinal)."""
        return self.kind in CODED_KINDS


@dataclass(frozen=True)
class Codebook:
    """All variables of a dataset, keyed by variable name."""

    columns: Mapping[str, ColumnInfo]
    #: (table, column) -> the column's label in that table only: ``province_next`` describes 2021 in the 2020
    #: table and 2022 in the 2021 table, and a researcher should not have to work that out
    table_labels: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def column(self, table: str, column: str) -> ColumnInfo | None:
        """:meth:`lookup`, with the label the column has in ``table`` where the codebook gives one."""
        info = self.lookup(column)
        label = self.table_labels.get((table, column))
        return info if info is None or label is None else replace(info, label=label)

    def lookup(self, column: str, suffixes: Sequence[str] = ("_next", "_prev")) -> ColumnInfo | None:
        """The variable behind a table column: an exact match first, else the column minus one known suffix.

        The exact match wins so that a variable whose own name ends in a suffix (``status_prev`` declared
        as a variable) is never confused with ``status`` shifted by one period.
        """
        info = self.columns.get(column)
        if info is not None:
            return info
        for suffix in suffixes:
            if suffix and column.endswith(suffix) and len(column) > len(suffix):
                info = self.columns.get(column[: -len(suffix)])
                if info is not None:
                    return info
        return None
