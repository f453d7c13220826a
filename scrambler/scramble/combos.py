"""Coverage of declared combinations: every tuple of a combination the spec names (``scramble.coverage
.combinations``) that the input shows reaches k in the output's same table block, as far as the rules allow."""

from __future__ import annotations

import numpy as np

from scrambler.panel import Panel
from scrambler.sampling import Sampler
from scrambler.scramble.gaps import Gap
from scrambler.scramble.moves import (
    count_keys,
    cover_whole_persons,
    direct,
    redraw,
    rules_for,
    sample_rows,
    spare_rows,
    tuple_keys,
)
from scrambler.spec.model import DatasetSpec

ComboKey = tuple[str, str, tuple[str, ...]]  # (table, block suffix, variables)
# Whole-person redraws cost a draw of every period per person: on a 36-quarter panel whose blocks hold fewer job
# rows than sectors x k, 827 of them for the sector brought it to no one (100 s of a 600-person run). After
# this many fruitless ones in a row a variable's categories (or a combination's tuples) get no more in this
# coverage call; the gaps say what stays short.
WHOLE_PERSON_STRIKES = 3


def combination_counts(panel: Panel, combos: tuple[tuple[str, ...], ...]) -> dict[ComboKey, dict[tuple[int, ...], int]]:
    """Counts of each non-null tuple of every declared combination, per table block showing all its
    variables; tuples are counted as mixed-radix integers (see :func:`count_keys`)."""
    spec = panel.spec
    index = {p: i for i, p in enumerate(panel.periods)}
    out: dict[ComboKey, dict[tuple[int, ...], int]] = {}
    for name, table, period in spec.table_names():
        t0 = index[period]
        rows = panel.present[t0]
        for block in table.blocks:
            for combo in combos:
                if not all(v in block.variables for v in combo):
                    continue
                key, valid, sizes = tuple_keys(panel, combo, t0 + block.offset)
                keys, counts = count_keys(key[rows & valid], sizes)
                out[(name, block.suffix, combo)] = {_unpack(int(k), sizes): int(c)
                                                     for k, c in zip(keys, counts, strict=True)}
    return out


def _pack(tup: tuple[int, ...], sizes: list[int]) -> int:
    key = 0
    for digit, size in zip(tup, sizes, strict=True):
        key = key * size + digit
    return key


def _unpack(key: int, sizes: list[int]) -> tuple[int, ...]:
    digits = []
    for size in reversed(sizes):
        key, digit = divmod(key, size)
        digits.append(digit)
    return tuple(reversed(digits))


def ensure_combinations(source: Panel, out: Panel, sampler: Sampler, rng: np.random.Generator, k: int,
                        passes: int = 3, wanted: dict[ComboKey, dict[tuple[int, ...], int]] | None = None
                        ) -> None:
    """Every tuple of a declared combination that the input shows reaches k in the output's same table block,
    as far as the constraints allow. Tuples of statics only: the last static (in draw order) is set where
    every rule at every period allows it; otherwise person-periods are redrawn around the tuple, its earlier
    variables borrowed from input person-periods that hold it. Either way only rows whose current values
    (and tuples) have plenty to spare are used."""
    spec = out.spec
    combos = spec.scramble.coverage_combinations
    if not combos:
        return
    index = {p: i for i, p in enumerate(out.periods)}
    tables = {name: (table, period) for name, table, period in spec.table_names()}
    wanted = combination_counts(source, combos) if wanted is None else wanted
    position = {n: i for i, n in enumerate(sampler.order)}
    failures: dict[tuple[str, ...], int] = {}  # fruitless whole-person redraws in a row, per combination
    for _ in range(passes):
        have = combination_counts(out, combos)
        todo = [(key, tup, k - have.get(key, {}).get(tup, 0)) for key, tuples in wanted.items()
                for tup in tuples if have.get(key, {}).get(tup, 0) < k]
        if not todo:
            break
        for (table_name, suffix, combo), tup, need in todo:
            table, period = tables[table_name]
            block = next(b for b in table.blocks if b.suffix == suffix)
            t0 = index[period]
            t = t0 + block.offset
            # an earlier item of this pass may have covered this one too (a person redrawn whole shows its
            # statics in every period): count again rather than overshoot (1,089 redundant whole-person
            # redraws on a 600-person 36-quarter panel)
            key, valid, sizes = tuple_keys(out, combo, t)
            need = k - int((out.present[t0] & valid & (key == _pack(tup, sizes))).sum())
            if need <= 0:
                continue
            values = dict(zip(combo, tup, strict=True))
            period_vars = [v for v in combo if not spec.variables[v].is_static]
            last = max(period_vars or combo, key=position.__getitem__)
            rows = out.present[t0] & out.present[t]
            for v in combo:
                if spec.variables[v].is_static and v != last:
                    rows &= out.static[v] == values[v]  # statics stay: pick persons that already hold them
            if not period_vars:
                rows &= out.static[last] != values[last]
            changed = [last] if not period_vars else period_vars
            candidates = spare_rows(out, t0, t, block.variables, changed, k, combos,
                                    sample_rows(rows, 800 * need, rng))
            if not period_vars:  # statics only: set the last one where every rule at every period allows it,
                # else redraw whole persons around the tuple
                done = direct(out, sampler, last, values[last], t, candidates[: 200 * need], need,
                              *rules_for(sampler, last))
                if done < need and failures.get(combo, 0) < WHOLE_PERSON_STRIKES:
                    took = cover_whole_persons(out, sampler, rng, t0, t, block.variables, values, need - done, k,
                                               combos, source)
                    failures[combo] = 0 if took else failures.get(combo, 0) + 1
                continue
            candidates = candidates[: 20 * need]
            templates = np.nonzero(source.present[t] & np.logical_and.reduce(
                [source.values(v, t) == values[v] for v in combo]))[0]
            if len(candidates) == 0 or len(templates) == 0:
                continue
            chosen = templates[rng.integers(0, len(templates), size=len(candidates))]
            redraw(out, sampler, rng, last, values[last], t, candidates, need, source=source, templates=chosen,
                   require={v: c for v, c in values.items() if v != last})


def tuple_gaps(spec: DatasetSpec, wanted: dict[ComboKey, dict[tuple[int, ...], int]],
               have: dict[ComboKey, dict[tuple[int, ...], int]], k: int) -> list[Gap]:
    """The tuple gaps from tuple counts: the input's (``wanted``) and the output's (``have``)."""
    gaps = []
    for (table_name, suffix, combo), tuples in wanted.items():
        for tup in tuples:
            got = have.get((table_name, suffix, combo), {}).get(tup, 0)
            if got < k:
                code = "×".join(spec.variables[v].codes[c] for v, c in zip(combo, tup, strict=True))
                gaps.append(Gap(table_name, suffix, "×".join(combo), code, k, got))
    return gaps
