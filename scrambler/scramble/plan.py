"""Which method scrambles which variable, and the machinery of each: donors, recode classes, noise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scrambler.constraints.registry import compile_rules, kind_of
from scrambler.coverage import count_codes
from scrambler.errors import Issue, SpecError
from scrambler.panel import Panel
from scrambler.spec.model import DatasetSpec, MethodSpec

DEFAULTS = {"categorical": "swap", "ordinal": "swap", "boolean": "swap", "integer": "perturb",
            "decimal": "perturb", "year": "perturb", "year_month": "perturb", "year_quarter": "perturb",
            "identifier": "new_id"}
# time variables move by calendar steps by default; integers and decimals by a share of their spread (spread.py)
DEFAULT_AMOUNT = {"year": 1.0, "year_month": 3.0, "year_quarter": 1.0}
# the share of a person's perturbation common to all their periods: the trajectory moves as a whole, and
# year-to-year change gains only a little noise
PERSON_SHARE = 0.8


@dataclass
class Block:
    """Variables scrambled together: a swap block takes all its values from one donor."""

    name: str
    method: str
    variables: tuple[str, ...]
    strata: tuple[str, ...] = ()
    amount: float | None = None
    source: str = "profile"
    # categorical variables of the block that a rule across time ties to their previous value (step,
    # transition, absorbing): a new donor is matched on them as the output person had them last period
    lagged: tuple[str, ...] = ()
    # categorical variables drawn before the block that a rule within a period ties to one of its variables: a
    # new donor is matched on them first (see MethodProposals._fresh)
    context: tuple[str, ...] = ()


@dataclass
class Plan:
    blocks: list[Block]
    method_of: dict[str, Block] = field(default_factory=dict)
    recode: dict[str, np.ndarray] = field(default_factory=dict)  # variable -> code permutation (K+1, null fixed)

    def describe(self) -> dict[str, str]:
        out = {}
        for name, block in self.method_of.items():
            text = block.method
            if block.method == "swap" and len(block.variables) > 1:
                text += f" (block {block.name})"
            if block.strata:
                text += f" within strata {', '.join(block.strata)}"
            out[name] = text
        return out


def code_counts(source: Panel) -> dict[str, np.ndarray]:
    """Each recoded variable's count of each code over the input's present person-periods."""
    out = {}
    recoded = {v for m in source.spec.scramble.methods if m.method == "recode" for v in m.variables}
    for var in source.spec.data_variables:
        if var.name in recoded:
            values = source.static[var.name][source.present.any(axis=0)] if var.is_static \
                else source.periodic[var.name][source.present]
            out[var.name] = count_codes(values, len(var.codes))
    return out


def make_plan(spec: DatasetSpec, order: list[str], rng: np.random.Generator,
              counts: dict[str, np.ndarray] | None = None) -> Plan:
    """``counts``: the input's count of each code of each categorical (for recode); None: unknown."""
    declared: dict[str, MethodSpec] = {}
    blocks: list[Block] = []
    for i, m in enumerate(spec.scramble.methods):
        block = Block(name=f"methods[{i}]", method=m.method, variables=m.variables, strata=m.strata,
                      amount=m.amount, source=m.source)
        blocks.append(block)
        for v in m.variables:
            declared[v] = m
    for var in spec.data_variables:
        if var.name not in declared:
            blocks.append(Block(name=var.name, method=DEFAULTS[var.type], variables=(var.name,)))
    plan = Plan(blocks=blocks)
    position = {name: i for i, name in enumerate(order)}
    _donor_matching(spec, blocks, position)
    problems = []
    for block in blocks:
        for v in block.variables:
            plan.method_of[v] = block
        first = min((position[v] for v in block.variables if v in position), default=0)
        for s in block.strata:
            if position.get(s, -1) >= first:
                problems.append(Issue(code="bad-strata", variable=s, rule=block.name,
                                      message=f"stratum {s!r} must be drawn before the block "
                                      f"({', '.join(block.variables)}); move it earlier in generator.yaml's order"))
    if problems:
        raise SpecError(problems)
    for block in blocks:
        if block.method == "recode":
            for v in block.variables:
                plan.recode[v] = recode_permutation(spec, v, rng, None if counts is None else counts.get(v))
    return plan


def _donor_matching(spec: DatasetSpec, blocks: list[Block], position: dict[str, int]) -> None:
    """Set ``lagged`` and ``context`` of every swap block from the rules (see Block)."""
    rules = compile_rules(spec)
    across_time = {v for rule in rules if rule.temporal for v in rule.variables}
    for block in blocks:
        if block.method != "swap":
            continue
        mine = set(block.variables)
        first = min((position[v] for v in mine if v in position), default=0)
        block.lagged = tuple(v for v in block.variables if v in across_time and spec.variables[v].is_categorical
                             and not spec.variables[v].is_static)
        tied = {v for rule in rules if not rule.temporal and mine & set(rule.variables) for v in rule.variables}
        block.context = tuple(sorted((v for v in tied - mine - set(block.strata)
                                      if spec.variables[v].is_categorical and position.get(v, first) < first),
                                     key=lambda v: position[v]))


def compatibility_classes(spec: DatasetSpec, name: str) -> list[list[int]]:
    """Codes of a categorical variable that every rule treats alike: swapping them keeps every rule's verdict.

    A code's signature is what every rule naming the variable says about it: its kind's recode signature
    (membership in the code sets an implication tests, rows of a combinations table, mapping targets). A kind
    that registers no signature keeps every code apart (its position), the safe default for order- or
    attribute-based rules and for kinds that do not say. Codes with equal signatures form a class.
    """
    codes = spec.variables[name].codes
    sig: list[list[object]] = [[] for _ in codes]
    for rule in spec.rules:
        if name not in rule.variables:
            continue
        signature = kind_of(rule).signature
        entries = signature(rule, name, codes) if signature is not None else [(rule.id, "pos", i)
                                                                              for i in range(len(codes))]
        for i, entry in enumerate(entries):
            sig[i].append(entry)
    classes: dict[str, list[int]] = {}
    for i, s in enumerate(sig):
        classes.setdefault(repr(s), []).append(i)
    return list(classes.values())


# codes whose input counts are within this ratio of each other may be permuted among themselves
RECODE_SIMILAR = 1.25


def recode_permutation(spec: DatasetSpec, name: str, rng: np.random.Generator,
                       counts: np.ndarray | None = None) -> np.ndarray:
    """A random permutation of codes inside each compatibility class (null maps to null). With the input's
    ``counts``, only among codes of similar frequency (within RECODE_SIMILAR of the group's most frequent):
    a permutation of a frequent and a rare code shows in the output's marginals, and matching them to public
    marginals would invert it. A code with no code of similar frequency in its class keeps its code."""
    K = len(spec.variables[name].codes)
    perm = np.arange(K + 1, dtype=np.int64)
    for cls in compatibility_classes(spec, name):
        for group in _similar(cls, counts):
            if len(group) > 1:
                perm[group] = rng.permutation(group)
    perm[K] = -1
    return perm


def _similar(cls: list[int], counts: np.ndarray | None) -> list[list[int]]:
    """The class split into runs of codes of similar input frequency (the whole class when unknown)."""
    if counts is None:
        return [cls]
    ranked = sorted(cls, key=lambda c: -int(counts[c]))
    groups: list[list[int]] = []
    for code in ranked:
        if groups and counts[code] * RECODE_SIMILAR >= counts[groups[-1][0]]:
            groups[-1].append(code)
        else:
            groups.append([code])
    return groups
