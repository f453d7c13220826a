"""Compiled rules: the evaluation frame and the base class every kind's runtime extends."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from scrambler.spec.model import DatasetSpec, RuleSpec

# Column keys for a variable's value at the period before or after the frame's (rules reading ``previous(x)``):
# null where there is no such period or the value is unobserved there.
PREVIOUS = "previous:"
NEXT = "next:"


@dataclass
class Frame:
    """Column arrays for a set of rows: categorical codes (int16, -1 = null) or numbers (float64, NaN = null).

    ``period`` is the rows' reference period (an int array in the panel grain). Frames are cheap to derive:
    ``with_value`` shares every array but the overridden one, which the sampler uses to try candidates.
    """

    columns: Mapping[str, np.ndarray]
    period: np.ndarray
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = len(self.period)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def with_value(self, name: str, values: np.ndarray) -> Frame:
        return Frame(_Override(self.columns, name, values), self.period)


class _Override(Mapping[str, np.ndarray]):
    """A frame's columns with one replaced, without copying the others (the sampler tries each code)."""

    def __init__(self, base: Mapping[str, np.ndarray], name: str, values: np.ndarray) -> None:
        self.base, self.name, self.replacement = base, name, values

    def __getitem__(self, key: str) -> np.ndarray:
        return self.replacement if key == self.name else self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)

    def __contains__(self, key: object) -> bool:
        return key == self.name or key in self.base


class CompiledRule:
    """Base of a compiled rule. Subclasses implement ``_is_valid`` (row rules) or ``_pair_valid`` (temporal).

    Sampler hints, all optional: ``candidate_mask`` (codes), ``bounds`` (numbers; ``bounds_exact`` when the
    interval is the whole rule, so the sampler need not re-check it), ``forced_null``, and for temporal rules
    ``pins_to_neighbours`` (a number must equal its previous and next observed values).
    """

    temporal: ClassVar[bool] = False
    bounds_exact: ClassVar[bool] = False
    pins_to_neighbours: ClassVar[bool] = False

    def __init__(self, spec: RuleSpec, dataset: DatasetSpec) -> None:
        self.spec = spec
        self.id = spec.id
        self.variables: tuple[str, ...] = spec.variables
        self.dataset = dataset
        self.always = any(dataset.variables[v].scope == "always" for v in self.variables)

    def is_valid(self, frame: Frame) -> np.ndarray:
        """One boolean per row: True where the rule holds."""
        return self._is_valid(frame)

    def _is_valid(self, frame: Frame) -> np.ndarray:
        raise NotImplementedError

    def pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        """Temporal rules: validity of ``current`` after ``previous``, ``gap`` periods apart (null -> True)."""
        return self._pair_valid(previous, current, gap)

    def _pair_valid(self, previous: np.ndarray, current: np.ndarray, gap: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def candidate_mask(self, name: str, frame: Frame, n_codes: int) -> np.ndarray | None:
        """(rows, n_codes+1) mask of codes of ``name`` that keep the rule, or None to let the sampler try each."""
        return None

    def bounds(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-row [low, high] that the rule implies for numeric ``name`` given the other variables, or None."""
        return None

    def forced_null(self, name: str, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows where the rule forces ``name`` to be null, and rows where it forces it present (or None)."""
        return None

    def ahead(self) -> CompiledRule | None:
        """For a rule reading values of the previous period (``previous(x)``): the same rule one period ahead,
        as a rule on those values - what a value redrawn at t must keep at t + 1. None for other rules."""
        return None

    @property
    def kind(self) -> str:
        return self.spec.kind

    def neighbour_bounds(self, previous: np.ndarray, previous_gap: np.ndarray, following: np.ndarray,
                         following_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Temporal rules on numbers: the [low, high] a value must keep between its observed neighbours."""
        return None

    def describe(self) -> str:
        return f"{self.id} ({self.kind}): {self.spec.reason}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"
