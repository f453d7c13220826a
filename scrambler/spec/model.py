"""Specification objects: frozen dataclasses, no pandas, no behaviour beyond lookups.

The loader (:mod:`scrambler.spec.load`) builds them; the engine (checker, sampler, scrambler) runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from scrambler.spec.conditions import Condition, Test
from scrambler.spec.expressions import Expression

CATEGORICAL_TYPES = ("categorical", "ordinal", "boolean")
NUMERIC_TYPES = ("integer", "decimal", "year", "year_month", "year_quarter")
TYPES = (*CATEGORICAL_TYPES, *NUMERIC_TYPES, "identifier")
TIME_GRAIN = {"year": "year", "year_month": "month", "year_quarter": "quarter"}
BOOLEAN_CODES = ("false", "true")


@dataclass(frozen=True)
class Codelist:
    """An ordered list of codes with labels, optional weights and numeric attributes."""

    name: str
    codes: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]]  # language -> one label per code
    weights: tuple[float, ...] | None = None
    attributes: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # numeric columns; NaN = empty
    texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # every extra column as text
    file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.codes)})

    def index(self, code: str) -> int:
        return self._index[code]  # type: ignore[attr-defined, no-any-return]

    def __contains__(self, code: object) -> bool:
        return code in self._index  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.codes)

    def label(self, code: str, language: str = "en") -> str:
        labels = self.labels.get(language) or next(iter(self.labels.values()), None)
        return labels[self.index(code)] if labels else code


@dataclass(frozen=True)
class VariableConstraints:
    """Single-variable constraints, Table Schema names plus ``forbidden``."""

    required: bool = False
    unique: bool = False
    minimum: float | str | None = None
    maximum: float | str | None = None
    enum: tuple[str, ...] | None = None
    forbidden: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    source: str
    codelist: Codelist | None = None
    group: str | None = None
    timing: str = "period"  # period | static
    scope: str = "present"  # present | always
    label: Mapping[str, str] = field(default_factory=dict)
    constraints: VariableConstraints = field(default_factory=VariableConstraints)
    decimals: int = 0
    publish: bool = True

    @property
    def is_categorical(self) -> bool:
        return self.type in CATEGORICAL_TYPES

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_static(self) -> bool:
        return self.timing == "static"

    @property
    def codes(self) -> tuple[str, ...]:
        if self.type == "boolean":
            return BOOLEAN_CODES
        return self.codelist.codes if self.codelist else ()

    @property
    def integral(self) -> bool:
        """Numeric values move in whole steps (everything but decimal)."""
        return self.type in ("integer", "year", "year_month", "year_quarter")


@dataclass(frozen=True)
class PanelSpec:
    grain: str
    start: int
    end: int
    presence: str
    reference_month: int = 12

    @cached_property  # read per drawn row set: a 154-month panel built the tuple 2.7 million times a run
    def periods(self) -> tuple[int, ...]:
        return tuple(range(self.start, self.end + 1))


@dataclass(frozen=True)
class BlockSpec:
    offset: int
    suffix: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    name: str  # template with {T}
    periods: tuple[int, ...]
    blocks: tuple[BlockSpec, ...]

    def name_for(self, period_label: str) -> str:
        return self.name.replace("{T}", period_label)


# ---- rules (relations between variables) ----------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    id: str
    reason: str
    source: str | None

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def variables(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def temporal(self) -> bool:
        return False


@dataclass(frozen=True)
class ImplicationSpec(RuleSpec):
    condition: Condition
    consequence: Condition

    kind = "implication"  # type: ignore[assignment]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.condition.variables(), *self.consequence.variables())))


@dataclass(frozen=True)
class CombinationsSpec(RuleSpec):
    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]
    file: str | None = None

    kind = "combinations"  # type: ignore[assignment]

    @property
    def variables(self) -> tuple[str, ...]:
        return self.columns


@dataclass(frozen=True)
class MappingSpec(RuleSpec):
    source_var: str
    target_var: str
    pairs: tuple[tuple[str, str | None], ...]
    file: str | None = None

    kind = "mapping"  # type: ignore[assignment]

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.source_var, self.target_var)


@dataclass(frozen=True)
class CompareSpec(RuleSpec):
    left: Expression
    op: str
    right: Expression

    kind = "compare"  # type: ignore[assignment]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.left.variables(), *self.right.variables())))

    @property
    def lagged(self) -> tuple[str, ...]:
        """The variables the rule reads at the previous period (``previous(x)``)."""
        return tuple(dict.fromkeys((*self.left.lagged(), *self.right.lagged())))


@dataclass(frozen=True)
class ClassifySpec(RuleSpec):
    """A number lies in its class: ``class_var``'s code list gives each class its bounds (attribute columns)."""

    number: str
    class_var: str
    lower: str  # attribute column of the lower bound (inclusive); empty cell = no lower bound
    upper: str  # attribute column of the upper bound; empty cell = no upper bound
    upper_inclusive: bool = True

    kind = "classify"  # type: ignore[assignment]

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.number, self.class_var)


@dataclass(frozen=True)
class TemporalSpec(RuleSpec):
    """Base of the rules across periods: each constrains one period variable between observations."""

    variable: str

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.variable,)

    @property
    def temporal(self) -> bool:
        return True


@dataclass(frozen=True)
class ConstantSpec(TemporalSpec):
    kind = "constant"  # type: ignore[assignment]


@dataclass(frozen=True)
class StepSpec(TemporalSpec):
    min_step: float  # whole numbers for ordinals, integers and years
    max_step: float

    kind = "step"  # type: ignore[assignment]


@dataclass(frozen=True)
class AbsorbingSpec(TemporalSpec):
    values: tuple[str, ...]

    kind = "absorbing"  # type: ignore[assignment]


@dataclass(frozen=True)
class TransitionSpec(TemporalSpec):
    if_previous: Test
    then: Test

    kind = "transition"  # type: ignore[assignment]


# ---- scrambling, generator ---------------------------------------------------------------------------------

METHODS = ("keep", "swap", "recode", "fabricate", "model", "perturb", "new_id")


@dataclass(frozen=True)
class MethodSpec:
    variables: tuple[str, ...]
    method: str
    strata: tuple[str, ...] = ()
    amount: float | None = None
    source: str = "profile"  # fabricate: profile | uniform


@dataclass(frozen=True)
class ScrambleSpec:
    methods: tuple[MethodSpec, ...] = ()
    coverage_k: int = 5
    coverage_codelist: bool = False
    coverage_combinations: tuple[tuple[str, ...], ...] = ()
    guard_quasi_identifiers: tuple[str, ...] | None = None  # None = all
    guard_k: int = 5
    # numeric variable -> how far apart two values may be and still count as equal (default: from its spread)
    guard_tolerance: Mapping[str, float] = field(default_factory=dict)
    # quasi-identifier combinations no value tuple of which rarer than guard_k in the input may appear in the
    # output (None: the default, the published static categoricals)
    guard_combinations: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class NumericDistribution:
    kind: str  # uniform | quantiles | relative
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class EntrySpec:
    share: float
    set: Mapping[str, str]  # variable -> code, or the word "period"


@dataclass(frozen=True)
class PersonsSpec:
    """What the fake national numbers of the source identifier encode (generator.yaml ``persons``): the age at a
    person's first present period and the sex. Declared, because which variable means age or sex is the
    dataset's business, not the engine's."""

    ages: tuple[int, int]  # age range when no age variable tells (none declared, or its value is null)
    age_variable: str | None = None  # a categorical variable whose code list gives each code's age range ...
    age_min: str = ""  # ... in these numeric attribute columns
    age_max: str = ""
    sex_variable: str | None = None  # a static categorical variable; persons with ``male`` get a man's serial
    male: str | None = None


@dataclass(frozen=True)
class GeneratorSpec:
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    conditional: Mapping[str, tuple[str, Mapping[str, Mapping[str, float]]]] = field(default_factory=dict)
    numeric: Mapping[str, NumericDistribution] = field(default_factory=dict)
    null_share: Mapping[str, float] = field(default_factory=dict)
    stay: Mapping[str, float] = field(default_factory=dict)
    stay_default: float = 0.9
    death_rate: float = 0.0
    death_variable: str | None = None
    death_value: str | None = None
    emigration_rate: float = 0.0
    ageing_variable: str | None = None
    ageing_rate: float = 0.0
    entries: tuple[EntrySpec, ...] = ()
    order: tuple[str, ...] = ()
    # populations sampled separately: (static categorical variable, code -> relative size); the population
    # holds exactly its share of persons of each group, each drawn from that group's own simulated persons
    groups: tuple[str, Mapping[str, float]] | None = None
    persons: PersonsSpec | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A whole dataset specification."""

    name: str
    title: str
    deliberation: str
    root: str
    identifier: str
    source_identifier: str | None
    panel: PanelSpec
    variables: Mapping[str, Variable]
    groups: Mapping[str, Mapping[str, str]]
    tables: tuple[TableSpec, ...]
    rules: tuple[RuleSpec, ...]
    scramble: ScrambleSpec
    generator: GeneratorSpec
    fingerprint: str = ""

    @property
    def data_variables(self) -> tuple[Variable, ...]:
        """Variables that carry data in the panel (every non-identifier variable)."""
        return tuple(v for v in self.variables.values() if v.type != "identifier")

    @property
    def published_variables(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.data_variables if v.publish)

    @cached_property
    def partly_published(self) -> dict[str, dict[int, tuple[int, ...]]]:
        """The periods where no table of the period shows a variable (see :mod:`scrambler.spec.publication`)."""
        from scrambler.spec.publication import partly_published

        return partly_published(self.panel.periods, self.tables, self.data_variables)

    def table_names(self) -> list[tuple[str, TableSpec, int]]:
        from scrambler.spec.time import format_period

        out = []
        for table in self.tables:
            for period in table.periods:
                out.append((table.name_for(format_period(period, self.panel.grain)), table, period))
        return out
