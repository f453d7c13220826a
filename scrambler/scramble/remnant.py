"""What a large input's later stages read, and nothing more: once the guard's index, the category counts and
the yardstick's held-out slice are made of the whole input, and the draw is over, a handed-over input is cut
down to its remnant (rows) and its anchors' columns.

After the draw, the scramble reads its input for proposals and templates only. Redraws propose each output
person's anchor's values for the variables kept, recoded or perturbed (every output person may be redrawn,
so those columns stay whole: :func:`anchored`), and donors for swapped blocks; coverage borrows the values of
input persons holding a category (or a declared tuple) the output lacks; the guard's whole-person redraws
borrow the statics of input persons holding no rare tuple; the gaps' explanation asks which codes the input
holds. Holding the whole input for that kept ~3.2 GB of a 7.5 million-person run beside the output and the
guard's index. The remnant keeps:

- every holder of a value (per variable and period, or per declared combination and period) that fewer than
  RARE_HOLDERS input persons hold: the rare categories coverage works for keep every template they had;
- a simple random sample of REMNANT_SAMPLE persons (seeded, a stream of its own): donors and templates for
  common values, in the input's proportions (a value held by RARE_HOLDERS persons of 7.5 million has ~130
  holders in the sample);
- at least one holder of every value the input holds, whatever the sample drew (so the gaps' "the input holds
  it" and coverage's last resort "a holder at any period" read the same as on the whole input);
- the rows the caller still needs (``keep``: the reports' sample).

A common value's templates and donors after the draw are then a sample of its holders rather than all of them:
the output differs from a run on an input kept whole, and is as valid (proposals only; the sampler's rules
decide). The rare tuples a swapped block must not hand over intact are counted on the remnant too: a tuple
may look rarer there than it is, never more common, so more are broken up, never fewer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from scrambler.memory import Spilled
from scrambler.panel import Panel, sampled_rows
from scrambler.scramble import outsider
from scrambler.scramble.cover import CoverageCounts
from scrambler.scramble.guard import GuardIndex
from scrambler.scramble.guard_index import build_index
from scrambler.scramble.moves import tuple_keys
from scrambler.scramble.nearness import count_keys
from scrambler.scramble.plan import Plan
from scrambler.scramble.proposals import MethodProposals

#: inputs of more persons than this are compacted when handed over (below it the whole input is small beside
#: the output and the index, and the runs keep the outputs they had)
REMNANT_MIN = 2_000_000
#: the random sample of persons kept as templates for common values
REMNANT_SAMPLE = 500_000
#: a value held by fewer input persons than this keeps all its holders
RARE_HOLDERS = 2_000
_STREAM = 0x7E3A
#: the methods whose proposals read each output person's anchor (the rest draw donors, or nothing)
ANCHORED = ("keep", "recode", "perturb")


@dataclass
class Taken:
    """What the scramble takes of a whole large input before its draw, while only the input is held: the
    guard's index (on disk during the draw: see :func:`take`), the category counts, the yardstick's held-out
    slice, the rows the remnant keeps, and the input's size."""

    index: Spilled
    counts: CoverageCounts
    held_out: outsider.HeldOut
    kept: np.ndarray
    persons: int
    person_periods: int


def take(source: Panel, keep: np.ndarray, seed: int, threads: int) -> Taken:
    """Everything the scramble reads of the whole input after its draw, made before it. Why before: the
    guard's index (~1.3 GB at 7.5 million persons) built after the draw stood beside the input and the
    output (3.2 GB each) and its own working arrays: 9.2 GB. Built here, beside the input only (on both
    cores: the counts and the remnant's rows beside it), then written to an unnamed temporary file for the
    draw (memory.Spilled: ~3 s each way) and read back once the input is cut down (:func:`cut`)."""
    with ThreadPoolExecutor(2) as pool:
        counting = pool.submit(CoverageCounts.of, source)
        keeping = pool.submit(kept_rows, source, keep, seed)
        index = build_index(source, threads)
        held = outsider.held_out(index, source, seed)
        counts, kept = counting.result(), keeping.result()
    return Taken(Spilled(index), counts, held, kept, source.n, int(source.present.sum()))


def cut(source: Panel, taken: Taken, proposals: MethodProposals, plan: Plan) -> GuardIndex:
    """After the draw: ``source`` compacted in place to the remnant's rows, the proposals rebased onto the
    anchors' whole columns and the remnant, and the guard's index read back with its templates renumbered."""
    whole = anchored(source, [v for b in plan.blocks if b.method in ANCHORED for v in b.variables])
    source.compact(taken.kept)
    proposals.rebase(whole, source)
    return moved(taken.index.load(), taken.kept)


def kept_rows(source: Panel, keep: np.ndarray, seed: int) -> np.ndarray:
    """The sorted row numbers of ``source`` its remnant keeps (see the module's docstring)."""
    base = np.union1d(np.asarray(keep, dtype=np.int64),
                      sampled_rows(source.n, min(REMNANT_SAMPLE, source.n), seed, _STREAM))
    parts = [base]
    for var in source.spec.data_variables:
        if not var.is_categorical:
            continue
        if var.name in source.static:
            parts.append(_holders(source.static[var.name], base))
        elif var.name in source.periodic:
            values = source.periodic[var.name]
            parts.extend(_holders(values[t], base) for t in range(values.shape[0]))
    for combo in source.spec.scramble.coverage_combinations:
        for t in range(len(source.periods)):
            key, valid, sizes = tuple_keys(source, combo, t)
            key = np.where(valid & source.present[t], key, -1)
            parts.append(_tuple_holders(key, sizes, base))
    return np.unique(np.concatenate(parts))


def _holders(values: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The rows of one code column (null < 0) holding a value fewer than RARE_HOLDERS rows hold, and the first
    holder of each value ``base`` lacks."""
    if values.dtype == np.int8:  # a view, no copy: null (-1) reads as 255, codes as themselves
        bins, null = values.view(np.uint8), 255
    else:
        null = int(values.max(initial=0)) + 1
        bins = np.where(values < 0, null, values).astype(np.intp)
    counts = np.bincount(bins, minlength=null + 1)
    counts[null] = 0
    return _pick(bins, counts, np.bincount(bins[base], minlength=len(counts)))


def _tuple_holders(key: np.ndarray, sizes: list[int], base: np.ndarray) -> np.ndarray:
    """As :func:`_holders`, for the mixed-radix tuples of a declared combination (-1: incomplete or absent)."""
    held = key >= 0
    keys, counts = count_keys(key[held], sizes)
    if len(keys) == 0:
        return keys
    # each row's tuple as its position among the distinct tuples (len(keys): none)
    pos = np.full(len(key), len(keys), dtype=np.intp)
    pos[held] = np.searchsorted(keys, key[held])
    counts = np.append(counts, 0)
    return _pick(pos, counts, np.bincount(pos[base], minlength=len(counts)))


def _pick(bins: np.ndarray, counts: np.ndarray, in_base: np.ndarray) -> np.ndarray:
    rare = (counts > 0) & (counts < RARE_HOLDERS)
    rows = [np.flatnonzero(rare[bins])] if rare.any() else []
    # a common value the random sample missed (odds below e^-100 at the defaults; a guarantee, not a hope)
    rows += [np.flatnonzero(bins == b)[:1] for b in np.flatnonzero((counts >= RARE_HOLDERS) & (in_base == 0))]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)


def moved(index: GuardIndex, kept: np.ndarray) -> GuardIndex:
    """The guard's index after its input was compacted to ``kept``: its templates (row numbers of the input)
    become the kept ones, renumbered."""
    return replace(index, templates=np.searchsorted(kept, np.intersect1d(index.templates, kept)))


def anchored(source: Panel, names: list[str]) -> Panel:
    """A panel of every input person holding only the columns ``names`` (and their observed masks): the arrays
    themselves, not copies, so that compacting ``source`` afterwards leaves these whole."""
    return Panel(spec=source.spec, ids=source.ids, present=source.present,
                 static={n: source.static[n] for n in names if n in source.static},
                 periodic={n: source.periodic[n] for n in names if n in source.periodic},
                 observed=None if source.observed is None else
                 {n: source.observed[n] for n in names if n in source.observed})
