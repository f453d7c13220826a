"""The rule-kind registry: everything the engine knows about a kind, registered by the kind's own module.

A kind module in this package builds its :class:`RuleKind` (YAML keys and parser, semantic checks, recode
signature, runtime class with its sampler hints, docs snippet) and passes it to :func:`register_kind`. The
loader, ``validate``, the checker, the sampler and ``recode`` look kinds up here, so a new kind is a new module
(plus its specification class in :mod:`scrambler.spec.model`) and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrambler.spec.model import DatasetSpec, RuleSpec, Variable
from scrambler.spec.reader import Reader

if TYPE_CHECKING:
    from scrambler.constraints.base import CompiledRule
    from scrambler.constraints.checks import CheckContext

COMMON_KEYS = ("id", "kind", "reason", "source", "description")


@dataclass(frozen=True)
class ParseContext:
    """What a kind's parser may use: the reader (issues, spec-relative CSV files), the declared variables, the
    common fields every rule spec takes (``base``: id, reason, source) and where the rule sits (for issues)."""

    reader: Reader
    variables: dict[str, Variable]
    base: dict[str, Any]
    where: dict[str, str]

    def csv(self, value: Any) -> tuple[str, list[str], list[tuple[int, dict[str, str]]]] | None:
        """A CSV file the rule names, inside the spec folder: (file as shown, header, numbered rows), or None
        after an issue was reported."""
        path = self.reader.spec_path(value, **self.where)
        if path is None:
            return None
        read = self.reader.csv_rows(path, **self.where)
        if read is None:
            return None
        return self.reader.rel(path), read[0], read[1]


def need_variable(item: dict[str, Any], kind: str) -> str:
    """The ``variable`` key of a single-variable rule (the temporal kinds)."""
    variable = item.get("variable")
    if not isinstance(variable, str):
        raise ValueError(f"a {kind} rule needs 'variable'")
    return variable


Parser = Callable[[ParseContext, dict[str, Any]], RuleSpec | None]
Checker = Callable[["CheckContext", Any], None]
GroupChecker = Callable[["CheckContext", Sequence[Any]], None]
# (rule, variable, its codes) -> one hashable entry per code: codes with equal entries may be recoded into each
# other without changing the rule's verdict on any row
Signature = Callable[[Any, str, tuple[str, ...]], Sequence[object]]


def _no_check(ctx: CheckContext, rule: Any) -> None:
    return None


@dataclass(frozen=True)
class RuleKind:
    """One rule kind: its specification class, its runtime and what each stage needs to know about it.

    ``parse`` raises ValueError for a malformed rule (reported as ``bad-rule`` naming the rule) or returns None
    after reporting its own issue. ``check`` runs once per rule after every variable is known to exist;
    ``check_all`` once with all rules of the kind (cross-rule contradictions). ``signature`` of None keeps every
    code of the rule's variables apart under ``recode`` (the safe default: a kind that does not say which
    codes it treats alike gets none swapped). Sampler hints are methods of ``runtime``
    (``candidate_mask``, ``bounds``, ``forced_null``, ``neighbour_bounds``, ``bounds_exact``).
    """

    spec: type[RuleSpec]
    runtime: type[CompiledRule]
    keys: tuple[str, ...]
    parse: Parser
    doc: str
    check: Checker = _no_check
    check_all: GroupChecker | None = None
    signature: Signature | None = None
    order: int = 100  # position in the docs and in error messages
    name: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.spec.kind)


_KINDS: dict[str, RuleKind] = {}
_BY_SPEC: dict[type, RuleKind] = {}
_discovered = False


def register_kind(kind: RuleKind) -> RuleKind:
    """Make a kind known to every stage. A second registration of the same name replaces the first (tests)."""
    if not isinstance(kind.name, str) or not kind.name:
        raise TypeError(f"{kind.spec.__name__} needs a class attribute 'kind' naming the rule kind")
    old = _KINDS.pop(kind.name, None)
    if old is not None:
        _BY_SPEC.pop(old.spec, None)
    _KINDS[kind.name] = kind
    _BY_SPEC[kind.spec] = kind
    return kind


def unregister_kind(name: str) -> None:
    kind = _KINDS.pop(name, None)
    if kind is not None:
        _BY_SPEC.pop(kind.spec, None)


def _discover() -> None:
    """Import every module of this package once: each kind module registers itself on import. Lazy, because
    the kind modules import the spec model, whose package imports the loader, which looks kinds up here."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("scrambler.constraints")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"scrambler.constraints.{info.name}")


def kinds() -> list[RuleKind]:
    """Every registered kind, in docs order."""
    _discover()
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.name))


def find_kind(name: object) -> RuleKind | None:
    _discover()
    return _KINDS.get(name) if isinstance(name, str) else None


def kind_of(rule: RuleSpec) -> RuleKind:
    """The kind of a rule specification (by its class)."""
    _discover()
    kind = _BY_SPEC.get(type(rule))
    if kind is None:
        raise LookupError(f"no rule kind is registered for {type(rule).__name__}")
    return kind


def docs_block() -> str:
    """The rules.yaml example of docs/spec-language.md: every kind's snippet, in docs order."""
    return "rules:\n" + "\n\n".join(kind.doc.strip("\n") for kind in kinds()) + "\n"


def compile_rules(spec: DatasetSpec) -> list[CompiledRule]:
    """The runtime of every rule of a spec."""
    return [kind_of(rule).runtime(rule, spec) for rule in spec.rules]
