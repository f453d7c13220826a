"""The Dask engine: the same scramble, partitioned over a dask.distributed cluster, for inputs larger than
one machine's memory.

Design (guarantees in docs/distributed.md):

1. **Partitions of persons.** Person p belongs to partition ``splitmix64(sequence number) mod P``
   (:func:`partition_of`): one pass, no coordination, and any node can tell a person's partition from the id
   alone (sorted id ranges would need a global quantile pass first). A whole person - every table, every
   period - is in exactly one partition, so every rule (all of them are within one person) can be kept and
   checked inside a partition. Each worker reads only its partition: from a flat dataset folder by streaming
   the Parquet row groups and keeping its persons, or from a folder of ``part-NNNNN/`` folders (one per
   partition, written by :func:`prepartition`) by reading its own folder - what a real cluster should use,
   since then no node reads the whole input. The source identifiers (``source/``) are never read.
2. **A global guard index**, built by the local engine's own steps (``guard_index.index_skeleton``,
   ``guard_index.index_part``, ``guard_index.assemble_index``; locally there is one part): each partition sends back its
   sorted person ids, its category counts, its codes and a sample of its numeric values; the driver derives
   the tolerances and the skeleton, each partition computes its part of the index, and the driver assembles
   them into the :class:`~scrambler.scramble.guard.GuardIndex` of the whole input (exact keys, near-equality
   rows, numeric paths, rare tuples), broadcast to every worker.
3. **Scramble per partition.** Partition p turns its persons into its share N_p of the N output persons
   (largest-remainder shares proportional to its input size) with the library call
   :func:`scrambler.scramble.scramble`, seed drawn from ``SeedSequence([seed, P, p])`` (P = 1: the seed) and
   the global guard index: one pass with the usual coverage + guard loop, so redraws made for the guard
   cannot undo coverage and vice versa.
4. **Identifiers.** Partition p draws its N_p sequence numbers in its own sub-range
   ``[low + p*W, low + (p+1)*W)`` of the id space, excluding the input ids that fall in it: unique across
   partitions without coordination, disjoint from every input id.
5. **Combine on the driver** with the local engine's last stages: the guard's last look against the global
   index, ids unique and new, the gaps stated from the summed counts (``cover.stated_gaps``), the independent
   check (``pipeline.independent_check``). The caller writes atomically as usual. One partition is the local
   engine: the same output and manifest figures.

The result depends only on the input, the spec, N, the seed and P: not on the number of workers, the
scheduling order or whether the input was pre-partitioned (same P, same persons per partition).

Limit: the driver holds the *output* (N persons) and the merged guard index, never the input. Partition
panels live on the workers (dask spills them to disk under memory pressure).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scrambler.combine import allocate, concat_panels, merge_guard, sum_counts, verify_combined
from scrambler.errors import DataError, Issue, ScramblerError, UnsatisfiableError
from scrambler.fingerprint import input_fingerprint
from scrambler.identifiers import SEQUENCE_HIGH, SEQUENCE_LOW
from scrambler.panel import Panel
from scrambler.partitions import PARTITIONING, read_partition, resolve_input
from scrambler.scramble import guard as guard_mod
from scrambler.scramble import guard_index
from scrambler.scramble.cover import CoverageCounts, stated_gaps
from scrambler.scramble.gaps import input_codes
from scrambler.scramble.pipeline import ScrambleResult, independent_check, scramble
from scrambler.scramble.spread import spread_of, spread_values
from scrambler.spec.model import DatasetSpec

SCHEDULER_TIMEOUT_S = 10  # connecting to --scheduler; dask's own default waits 30 s
Progress = Callable[[str, int, int], None]


@dataclass
class _Failure:
    """A ScramblerError raised on a worker, sent back as data (exception pickling would lose the issues)."""

    kind: type[ScramblerError]
    issues: list[Issue]


@dataclass(frozen=True)
class _Catching:
    """A task that returns a ScramblerError as a :class:`_Failure` instead of raising it."""

    func: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        failed = next((a for a in args if isinstance(a, _Failure)), None)
        if failed is not None:  # an earlier task of this partition failed: pass its failure on
            return failed
        try:
            return self.func(*args)
        except ScramblerError as exc:
            return _Failure(type(exc), exc.issues)


def _unwrap(value: Any, p: int) -> Any:
    if isinstance(value, _Failure):
        raise value.kind([Issue(code=i.code, message=f"partition {p}: {i.message}", file=i.file, rule=i.rule,
                                variable=i.variable, table=i.table, row=i.row) for i in value.issues])
    return value


@dataclass
class _Summary:
    """What the driver needs of a partition's input before the scramble: small, or bounded by the spread
    sample."""

    ids: np.ndarray  # sorted
    counts: CoverageCounts
    held: dict[str, set[str]]  # the codes each categorical holds anywhere
    spreads: dict[str, np.ndarray]  # the values the spreads of the guard's tolerances are estimated from


def _summarise(panel: Panel, qi: list[str]) -> _Summary:
    return _Summary(np.sort(panel.ids), CoverageCounts.of(panel), input_codes(panel),
                    {n: spread_values(panel, n) for n in guard_mod.spread_names(panel.spec, qi)})


@dataclass
class _Part:
    result: ScrambleResult
    counts: CoverageCounts


def _scramble_partition(spec: DatasetSpec, panel: Panel, persons: int, seed: int, p: int, partitions: int,
                        index: guard_mod.GuardIndex, exclude: np.ndarray, k: int | None,
                        codelist: bool | None) -> _Part:
    # one partition is the local engine: same seed, so the same output as `scramble` without --engine dask
    part_seed = seed if partitions == 1 else int(
        np.random.SeedSequence([seed, partitions, p]).generate_state(1, np.uint64)[0])
    result = scramble(spec, panel, persons, part_seed, k=k, codelist_coverage=codelist, guard_index=index,
                      id_space=id_range(p, partitions), input_ids=exclude)
    return _Part(result, CoverageCounts.of(result.panel))


def id_range(p: int, partitions: int) -> tuple[int, int]:
    """Partition p's share of the sequence-number space: disjoint sub-ranges, so ids never clash."""
    width = (SEQUENCE_HIGH - SEQUENCE_LOW) // partitions
    return SEQUENCE_LOW + p * width, SEQUENCE_LOW + (p + 1) * width


# --- the driver ----------------------------------------------------------------------------------------------


@dataclass
class DistributedResult(ScrambleResult):
    """A ScrambleResult plus how it was computed; ``manifest()`` records engine, partitions and scheduler."""

    partitions: int = 1
    scheduler: str = ""
    partition_persons: list[int] = field(default_factory=list)
    pre_partitioned: bool = False
    input_fingerprint: str = ""

    def manifest(self, seed: int, input_fingerprint: str) -> dict[str, Any]:
        # the engine's own fingerprint also covers part-NNNNN/ folders, which the caller's may not see
        out = super().manifest(seed, self.input_fingerprint or input_fingerprint)
        out.update({"engine": "dask", "partitions": self.partitions, "scheduler": self.scheduler,
                    "partitioning": "pre-partitioned folders" if self.pre_partitioned else PARTITIONING,
                    "partition_persons": self.partition_persons})
        return out


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[tuple[Any, str]]:
    """A dask client: to the scheduler at ``scheduler``, or to a LocalCluster of ``workers`` single-threaded
    worker processes. Yields (client, description)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:  # dask reports a refused or unknown address so
            raise ScramblerError([Issue(code="scheduler-unreachable", message=f"cannot reach the dask scheduler "
                                        f"at {scheduler} ({_first_line(exc)}); "
                                        "check --scheduler, or leave it out to run a LocalCluster here")]) from None
        with client:
            yield client, scheduler
        return
    with _environment_kept(), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client, f"LocalCluster({workers} workers)"


@contextmanager
def _environment_kept() -> Iterator[None]:
    """The caller's environment as it was once the LocalCluster is closed. dask's nanny writes its pre-spawn
    variables (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS, ...) into this process's ``os.environ`` for its workers
    to inherit, and leaves them there: every process started afterwards inherited them too. One did harm: any
    MALLOC_*_ variable turns glibc's dynamic mmap threshold off in the child (tests/test_memory.py failed in
    CI whenever it shared a pytest worker with tests/test_distributed.py)."""
    import os

    before = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        os.environ.update(before)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def scramble_dask(spec: DatasetSpec, input_folder: str | Path, persons: int, seed: int, *,
                  partitions: int | None = None, scheduler: str | None = None, client: Any = None,
                  k: int | None = None, codelist_coverage: bool | None = None,
                  progress: Progress | None = None) -> DistributedResult:
    """Scramble the input folder into ``persons`` persons on a dask.distributed cluster (``client``, else the
    scheduler at ``scheduler``, else a LocalCluster). Same guarantees as :func:`scramble`; the result depends
    on the seed and the number of partitions P (default: the partition folders, else the workers)."""
    if persons < 1:
        raise UnsatisfiableError([Issue(code="bad-argument", message=f"--persons must be at least 1, got {persons}")])
    if client is not None:
        return _run(client, str(getattr(client.scheduler, "address", "client")), spec, input_folder, persons, seed,
                    partitions, k, codelist_coverage, progress)
    workers = partitions if partitions is not None else (os.cpu_count() or 1)
    with connect(scheduler, min(workers, os.cpu_count() or 1)) as (own, described):
        return _run(own, described, spec, input_folder, persons, seed, partitions, k, codelist_coverage, progress)


def _run(client: Any, described: str, spec: DatasetSpec, input_folder: str | Path, persons: int, seed: int,
         partitions: int | None, k: int | None, codelist: bool | None, progress: Progress | None) -> DistributedResult:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    source = resolve_input(input_folder, partitions, default=workers)
    P = source.partitions
    spec_f = client.scatter(spec, broadcast=True, hash=False)
    panels = [client.submit(_Catching(read_partition), spec_f, source, p, pure=False) for p in range(P)]
    qi = guard_mod.qi_variables(spec)
    summaries: list[_Summary] = [_unwrap(s, p) for p, s in enumerate(client.gather(
        [client.submit(_Catching(_summarise), panel, qi, pure=False) for panel in panels]))]
    timings["read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    all_ids = np.concatenate([s.ids for s in summaries])
    if len(all_ids) == 0:
        raise UnsatisfiableError([Issue(code="empty-input", message="the input holds no person")])
    if len(np.unique(all_ids)) != len(all_ids):
        raise DataError([Issue(code="unique-error", file=str(input_folder), variable=spec.identifier,
                               message="a person occurs in more than one partition folder")])
    # the whole input's guard index, as build_index gives it on one machine: tolerances from the spreads of
    # every partition's values, then each partition's part, assembled in partition order
    spreads = {n: spread_of(np.concatenate([s.spreads[n] for s in summaries])) for n in summaries[0].spreads}
    skeleton = guard_index.index_skeleton(spec, qi, guard_mod.tolerances(spec, qi, spreads), spec.scramble.guard_k)
    skeleton_f = client.scatter(skeleton, broadcast=True, hash=False)
    index = guard_index.assemble_index(skeleton, client.gather(
        [client.submit(guard_index.index_part, skeleton_f, panel, pure=False) for panel in panels]))
    timings["index"] = time.perf_counter() - clock
    clock = time.perf_counter()
    sizes = [len(s.ids) for s in summaries]
    shares = allocate(persons, sizes)
    index_f = client.scatter(index, broadcast=True, hash=False)
    all_ids.sort()
    futures = {}
    for p in range(P):
        if shares[p] == 0:
            continue
        low, high = id_range(p, P)
        exclude = all_ids[np.searchsorted(all_ids, low):np.searchsorted(all_ids, high)]
        futures[p] = client.submit(_Catching(_scramble_partition), spec_f, panels[p], shares[p], seed, p, P, index_f,
                                   exclude, k, codelist, pure=False)
    parts: dict[int, _Part] = {}
    partition = {future.key: p for p, future in futures.items()}
    from dask.distributed import as_completed

    for done, (future, value) in enumerate(as_completed(list(futures.values()), with_results=True), start=1):
        p = partition[future.key]
        parts[p] = _unwrap(value, p)
        if progress:
            progress("partitions", done, len(futures))
    del panels, futures
    timings["scramble"] = time.perf_counter() - clock
    clock = time.perf_counter()
    ordered = [parts[p].result for p in sorted(parts)]
    out = concat_panels(spec, [part.panel for part in ordered])
    verify_combined(index, out, all_ids)
    # the gaps as the local engine states them, from the summed counts: a category short in one partition
    # may be covered by another
    wanted = sum_counts([s.counts for s in summaries])
    have = sum_counts([parts[p].counts for p in sorted(parts)])
    held: dict[str, set[str]] = {}
    for s in summaries:
        for name, codes in s.held.items():
            held.setdefault(name, set()).update(codes)
    rounds = max(part.coverage_rounds for part in ordered)
    gaps = stated_gaps(spec, wanted, have, k if k is not None else spec.scramble.coverage_k,
                       codelist if codelist is not None else spec.scramble.coverage_codelist, held, rounds)
    report = independent_check(out)
    timings["combine_and_check"] = time.perf_counter() - clock
    return DistributedResult(panel=out, plan=ordered[0].plan, gaps=gaps,
                             guard=merge_guard(index, [part.guard for part in ordered], spec), coverage_rounds=rounds,
                             report=report, timings=timings, partitions=P, scheduler=described,
                             partition_persons=shares, pre_partitioned=source.folders is not None,
                             input_fingerprint=input_fingerprint(input_folder))
