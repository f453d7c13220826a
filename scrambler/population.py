"""The stand-in population: a synthetic panel drawn by the constrained sampler from the spec's generator model.

Presence follows the spec's dynamics (deaths, emigration, ageing past the last class, entries); every value
is drawn by :class:`scrambler.sampling.Sampler`, so every rule of the spec holds by construction - the same
sampler the scrambler's fabrication uses, not a second copy of the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from scrambler.constraints.base import Frame
from scrambler.errors import Issue, SpecError
from scrambler.identifiers import fake_national_numbers, new_sequence_numbers
from scrambler.panel import Panel
from scrambler.sampling import Proposals, Sampler, VariableModel
from scrambler.spec.model import DatasetSpec, Variable

DEFAULT_BOOLEAN = np.array([0.97, 0.03, 0.0])  # false, true, null: flags are rare unless the spec says so


def generator_models(spec: DatasetSpec) -> dict[str, VariableModel]:
    gen = spec.generator
    models: dict[str, VariableModel] = {}
    for var in spec.data_variables:
        model = VariableModel(null_share=gen.null_share.get(var.name, 0.0))
        if var.is_categorical:
            model.weights = _weights(var, gen.weights.get(var.name), model.null_share)
            if var.name in gen.conditional:
                given, table = gen.conditional[var.name]
                gvar = spec.variables[given]
                matrix = np.broadcast_to(model.weights, (len(gvar.codes) + 1, len(model.weights))).copy()
                for gcode, row in table.items():
                    matrix[gvar.codes.index(gcode)] = _weights(var, row, model.null_share)
                model.conditional = (given, matrix.astype(np.float32))
        else:
            dist = gen.numeric.get(var.name)
            if dist is not None and dist.kind == "quantiles":
                model.quantiles = np.asarray(dist.values, dtype=float)
            elif dist is not None and dist.kind == "relative":
                model.relative = np.asarray(dist.values, dtype=float)
        if not var.is_static and var.name not in (gen.ageing_variable, gen.death_variable):
            model.stay = gen.stay.get(var.name, gen.stay_default)
        models[var.name] = model
    return models


def _weights(var: Variable, given: Mapping[str, float] | None, null_share: float) -> np.ndarray:
    K = len(var.codes)
    if given is not None:
        w = np.array([given.get(c, 0.0) for c in var.codes] + [0.0], dtype=float)
    elif var.type == "boolean":
        w = DEFAULT_BOOLEAN.copy()
    elif var.codelist is not None and var.codelist.weights is not None:
        w = np.array([*var.codelist.weights, 0.0], dtype=float)
    else:
        w = np.ones(K + 1)
        w[-1] = 0.0
    total = w[:K].sum()
    if total <= 0:
        w[:K] = 1.0
        total = K
    w[:K] /= total
    if 0 < null_share < 1:
        w[:K] *= 1 - null_share
        w[K] = null_share
    return w


@dataclass
class _Events:
    """Per person: entry period index, exit period index (first absent period, T if never) and whether the
    exit is a death."""

    entry: np.ndarray
    exit: np.ndarray
    died: np.ndarray


def generate_population(spec: DatasetSpec, persons: int, seed: int,
                        progress: Callable[[str, int, int], None] | None = None) -> Panel:
    """A panel of exactly ``persons`` persons that appear in the spec's tables."""
    if persons < 1:
        raise SpecError([Issue(code="bad-argument", message=f"--persons must be at least 1, got {persons}")])
    if spec.source_identifier and spec.generator.persons is None:
        raise SpecError([Issue(code="missing-key", file="generator.yaml", variable=spec.source_identifier,
                               message="the source identifier needs fake national numbers: declare the persons' "
                               "ages (and optionally the age and sex variables) under 'persons' "
                               "(docs/spec-language.md)")])
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9E3779B9]))
    n0 = persons
    for _ in range(4):
        panel = _simulate(spec, n0, rng, progress)
        keep = np.nonzero(panel.in_tables())[0]
        chosen, short = _choose(spec, panel, keep, persons, rng)
        if chosen is not None:
            panel.compact(chosen)
            break
        n0 = int(n0 * short * 1.05) + 10
    else:  # pragma: no cover - dynamics that empty the tables
        raise SpecError([Issue(code="bad-value", message="the generator's dynamics leave too few persons")])
    panel.ids = new_sequence_numbers(panel.n, rng)
    if spec.source_identifier:
        panel.source_ids = _national_numbers(spec, panel, rng)
    return panel


def group_quotas(sizes: Mapping[str, float], codes: tuple[str, ...], persons: int) -> dict[int, int]:
    """Persons per group code: shares of ``persons`` by size, rounded so that they add up exactly (largest
    remainders first)."""
    total = sum(sizes.values())
    exact = {codes.index(c): persons * size / total for c, size in sizes.items()}
    quotas = {c: int(np.floor(x)) for c, x in exact.items()}
    for c in sorted(exact, key=lambda c: exact[c] - quotas[c], reverse=True)[: persons - sum(quotas.values())]:
        quotas[c] += 1
    return quotas


def _choose(spec: DatasetSpec, panel: Panel, keep: np.ndarray, persons: int, rng: np.random.Generator
            ) -> tuple[np.ndarray | None, float]:
    """The persons of the population: ``persons`` of the simulated ones, each group (generator ``groups``)
    sampled on its own to its exact quota. Returns (sorted rows, 1.0), or (None, factor) when the simulation
    gave too few persons (of some group) and must be run ``factor`` times larger."""
    groups = spec.generator.groups
    if groups is None:
        if len(keep) < persons:
            return None, persons / max(len(keep), 1)
        return np.sort(rng.choice(keep, size=persons, replace=False)), 1.0
    name, sizes = groups
    values = panel.static[name][keep]
    quotas = group_quotas(sizes, spec.variables[name].codes, persons)
    members = {code: keep[values == code] for code in quotas}
    short = max(quota / max(len(members[code]), 1) for code, quota in quotas.items())
    if short > 1:
        return None, short
    parts = [rng.choice(members[code], size=quota, replace=False) for code, quota in quotas.items()]
    return np.sort(np.concatenate(parts)), 1.0


def _simulate(spec: DatasetSpec, n0: int, rng: np.random.Generator,
              progress: Callable[[str, int, int], None] | None) -> Panel:
    gen = spec.generator
    periods = spec.panel.periods
    T = len(periods)
    entry_share = sum(e.share for e in gen.entries)
    capacity = n0 + int(np.ceil(n0 * entry_share * 1.5 * T)) + 16 * T
    panel = Panel.empty(spec, capacity)
    events = _Events(entry=np.full(capacity, T, dtype=np.int64), exit=np.full(capacity, T, dtype=np.int64),
                     died=np.zeros(capacity, dtype=bool))
    events.entry[:n0] = 0
    entry_kind = np.full(capacity, -1, dtype=np.int64)
    used = n0
    sampler = Sampler(spec, generator_models(spec))
    ageing = gen.ageing_variable
    for t in range(T):
        if t > 0:
            was = panel.present[t - 1]
            alive = np.nonzero(was)[0]
            u = rng.random(len(alive))
            dies = alive[u < gen.death_rate]
            leaves = alive[(u >= gen.death_rate) & (u < gen.death_rate + gen.emigration_rate)]
            events.exit[dies] = t
            events.died[dies] = True
            events.exit[leaves] = t
            if ageing:
                last = len(spec.variables[ageing].codes) - 1
                prev = panel.periodic[ageing][t - 1, alive]
                advance = rng.random(len(alive)) < gen.ageing_rate
                out = alive[advance & (prev == last) & (events.exit[alive] == T)]
                events.exit[out] = t
                panel.periodic[ageing][t, alive] = np.where(advance, np.minimum(prev + 1, last), prev)
            for k, entry in enumerate(gen.entries):
                count = int(rng.binomial(len(alive), entry.share)) if entry.share > 0 else 0
                count = min(count, capacity - used)
                new = np.arange(used, used + count)
                events.entry[new] = t
                entry_kind[new] = k
                used += count
        panel.present[t] = (events.entry <= t) & (events.exit > t)
        panel.present[t, used:] = False
        proposals = _generator_proposals(spec, panel, events, entry_kind, used)

        def leave(rows: np.ndarray, t: int = t, proposals: Proposals = proposals) -> None:
            # No value is left for a person who was present: the rules imply the person left the
            # population (e.g. aged past the last class). Entrants get no such exit: they are redrawn.
            continuing = rows[events.entry[rows] < t]
            if len(continuing) < len(rows):
                sampler.draw_period(panel, t, rng, rows=rows[events.entry[rows] >= t], proposals=proposals)
            events.exit[continuing] = t
            panel.present[t, continuing] = False
            sampler.draw_period(panel, t, rng, rows=continuing, proposals=proposals)

        sampler.draw_period(panel, t, rng, rows=np.arange(used), proposals=proposals, on_dead=leave)
        if progress:
            progress("population", t + 1, T)
    panel.compact(slice(0, used))  # views, no copy
    return panel


def _generator_proposals(spec: DatasetSpec, panel: Panel, events: _Events, entry_kind: np.ndarray, used: int
                         ) -> Proposals:
    gen = spec.generator

    def propose(name: str, t: int, rows: np.ndarray, frame: Frame, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray] | None:
        var = spec.variables[name]
        if name == gen.death_variable and gen.death_value is not None:
            dead_code = var.codes.index(gen.death_value)
            other = 1 - dead_code if var.type == "boolean" else -1
            dead = events.died[rows] & (events.exit[rows] <= t)
            values = np.where(dead, dead_code, other).astype(np.int16)
            return values, np.ones(len(rows), dtype=bool)
        if name == gen.ageing_variable and t > 0:
            values = panel.periodic[name][t, rows]
            has = values >= 0
            if not _entry_sets(gen, name):
                return values, has
        sets = _entry_sets(gen, name)
        if sets:
            kinds = entry_kind[rows]
            starting = events.entry[rows] == t
            values = (np.full(len(rows), -1, dtype=np.int16) if var.is_categorical
                      else np.full(len(rows), np.nan))
            has = np.zeros(len(rows), dtype=bool)
            for k, value in sets:
                sel = starting & (kinds == k)
                if value == "period":
                    values[sel] = panel.periods[t]
                else:
                    values[sel] = var.codes.index(value) if var.is_categorical else float(value)
                has |= sel
            if name == gen.ageing_variable and t > 0:
                aged = panel.periodic[name][t, rows]
                keep_aged = ~has & (aged >= 0)
                values[keep_aged] = aged[keep_aged]
                has |= keep_aged
            return values, has
        return None

    return propose


def _entry_sets(gen: object, name: str) -> list[tuple[int, str]]:
    entries = getattr(gen, "entries", ())
    return [(k, e.set[name]) for k, e in enumerate(entries) if name in e.set]


def _national_numbers(spec: DatasetSpec, panel: Panel, rng: np.random.Generator) -> np.ndarray:
    """Fake national numbers whose birth date agrees with the age the spec declares (generator.yaml ``persons``:
    an age range, or a variable whose code list gives each code's ages) and whose serial parity agrees with the
    declared sex variable."""
    persons = spec.generator.persons
    assert persons is not None  # generate_population refuses a source identifier without it
    first_t = panel.present.argmax(axis=0)
    ref_year = np.asarray(panel.periods)[first_t]
    low, high = persons.ages
    age = rng.integers(low, high + 1, size=panel.n)
    if persons.age_variable is not None:
        attrs = spec.variables[persons.age_variable].codelist.attributes  # type: ignore[union-attr]
        codes = _first_values(panel, persons.age_variable, first_t)
        lo = np.append(np.asarray(attrs[persons.age_min]), low)[codes]  # a null code (-1) takes the range
        hi = np.append(np.asarray(attrs[persons.age_max]), high)[codes]
        age = (lo + np.floor(rng.random(panel.n) * (hi - lo + 1))).astype(np.int64)
    day = rng.integers(0, 365, size=panel.n)
    birth = (np.asarray(ref_year - age - 1970, dtype="datetime64[Y]").astype("datetime64[D]")
             + day.astype("timedelta64[D]"))
    male = rng.random(panel.n) < 0.5
    if persons.sex_variable is not None and persons.male is not None:
        var = spec.variables[persons.sex_variable]
        male = panel.static[var.name] == var.codes.index(persons.male)
    return fake_national_numbers(birth, male, rng)


def _first_values(panel: Panel, name: str, first_t: np.ndarray) -> np.ndarray:
    """Each person's value of ``name`` at their first present period (a static variable has one value)."""
    if name in panel.static:
        return panel.static[name]
    return panel.periodic[name][first_t, np.arange(panel.n)]
