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
2. **A global guard index.** "Depicts no real situation" must hold against the *whole* input, not the
   partition. Each partition sends back the guard's columns per period (``guard.period_variables``), its
   sorted person ids and its category counts (small); the driver unions the columns per period (today they
   follow from the spec alone, the own-year blocks; the union keeps every partition hashing the same columns
   should that choice ever depend on the data), each partition hashes its person-periods, and the driver
   merges the sorted hash arrays (and their counts, for the rare-combination figure) into one
   :class:`~scrambler.scramble.guard.GuardIndex` - what ``build_index`` gives on the whole input - broadcast
   to every worker: 8 bytes per distinct person-period, a fraction of the input.
3. **Scramble per partition.** Partition p turns its persons into its share N_p of the N output persons
   (largest-remainder shares proportional to its input size) with the library call
   :func:`scrambler.scramble.scramble`, seed drawn from ``SeedSequence([seed, P, p])`` and the global guard
   index (``guard_index=``): one pass with the usual coverage + guard loop, so redraws made for the guard
   cannot undo coverage and vice versa. Every category of the partition reaches k in the partition's output,
   hence globally; 0 violations (scramble() checks its own output); no output person-period equals any input
   person-period.
4. **Identifiers.** Partition p redraws its N_p sequence numbers in its own sub-range
   ``[low + p*W, low + (p+1)*W)`` of the id space, excluding the input ids that fall in that sub-range: unique
   across partitions without coordination, disjoint from every input id.
5. **Combine and check on the driver.** The partition panels are concatenated in partition order; the driver
   recounts collisions against the global index, checks id uniqueness and disjointness, recomputes coverage
   gaps from the summed counts (a category short in one partition may be covered by another), and runs the
   independent :func:`scrambler.check.check` on the combined tables. The caller writes atomically as usual.

The result depends only on the input, the spec, N, the seed and P: not on the number of workers, the
scheduling order or whether the input was pre-partitioned (same P, same persons per partition).

Limit: the driver holds the *output* (N persons) and the merged guard index, never the input. Partition
panels live on the workers (dask spills them to disk under memory pressure).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scrambler.check import check, read_tables
from scrambler.constraints.domain import build_domain
from scrambler.coverage import BlockKey, block_counts
from scrambler.errors import DataError, Issue, ScramblerError, UnsatisfiableError
from scrambler.identifiers import SEQUENCE_HIGH, SEQUENCE_LOW, new_sequence_numbers
from scrambler.output import atomic_folder, write_json
from scrambler.panel import Panel
from scrambler.scramble import guard as guard_mod
from scrambler.scramble.gaps import Gap, explain_gaps
from scrambler.scramble.pipeline import ScrambleResult, scramble
from scrambler.spec.model import DatasetSpec
from scrambler.tables import panel_to_tables, tables_to_panel

PART_PREFIX = "part-"
SCHEDULER_TIMEOUT_S = 10  # connecting to --scheduler; dask's own default waits 30 s
PARTITIONING = "splitmix64(sequence number) mod P"
BATCH_ROWS = 65_536
Progress = Callable[[str, int, int], None]


def partition_of(ids: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0..P-1) of each sequence number: splitmix64 finaliser, then mod P. Stable across
    machines, runs and library versions (unlike Python's hash()); spreads structured ids evenly."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    z = np.asarray(ids).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(partitions)).astype(np.int64)


# --- input: a flat dataset folder or a folder of partition folders ------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the input lives: ``folders`` set when pre-partitioned (one folder per partition)."""

    root: str
    partitions: int
    folders: tuple[str, ...] | None = None


def resolve_input(folder: str | Path, partitions: int | None, default: int) -> Source:
    root = Path(folder)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError([Issue(code="missing-data", file=str(root), message=f"the input folder {what}")])
    if any(root.glob("*.parquet")):
        count = partitions if partitions is not None else default
        if count < 1:
            raise DataError([Issue(code="bad-value", message=f"--partitions must be at least 1, got {count}")])
        return Source(str(root), count)
    parts = sorted(p for p in root.glob(f"{PART_PREFIX}*") if p.is_dir())
    if not parts:
        raise DataError([Issue(code="missing-data", file=str(root), message="the input holds neither .parquet "
                               f"tables nor {PART_PREFIX}NNNNN partition folders")])
    if partitions is not None and partitions != len(parts):
        raise DataError([Issue(code="bad-value", file=str(root), message=f"the input is pre-partitioned into "
                               f"{len(parts)} folders; --partitions {partitions} differs (omit it)")])
    return Source(str(root), len(parts), tuple(str(p) for p in parts))


def input_fingerprint(folder: str | Path) -> str:
    """sha256 over the input's Parquet files (name and bytes, streamed). For a flat folder it equals the local
    engine's fingerprint; for a pre-partitioned one it covers every partition file."""
    root = Path(folder)
    files = sorted(root.glob("*.parquet")) or sorted(root.glob(f"{PART_PREFIX}*/*.parquet"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() if path.parent == root else path.relative_to(root).as_posix().encode())
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def _unreadable(path: Path) -> DataError:
    return DataError([Issue(code="unreadable-file", file=str(path), message="not a Parquet file")])


def _filtered_table(path: Path, identifier: str, p: int, partitions: int) -> pa.Table:
    """The rows of one Parquet file whose person falls in partition p, read row group by row group."""
    try:
        handle = pq.ParquetFile(path)
        if identifier not in handle.schema_arrow.names:
            return handle.read()  # the decoder reports the missing identifier column
        pieces = []
        for batch in handle.iter_batches(batch_size=BATCH_ROWS):
            ids = batch.column(identifier).to_numpy(zero_copy_only=False)
            if ids.dtype.kind not in "iu":  # nulls or a wrong type: keep, the decoder reports it
                pieces.append(batch)
                continue
            pieces.append(batch.filter(pa.array(partition_of(ids, partitions) == p)))
        if not pieces:
            return handle.schema_arrow.empty_table()
        return pa.Table.from_batches(pieces)
    except (pa.ArrowInvalid, OSError):
        raise _unreadable(path) from None


def read_partition(spec: DatasetSpec, source: Source, p: int) -> Panel:
    """Partition p of the input as a panel (raises DataError on structural problems, like read_dataset)."""
    if source.folders is not None:
        tables = read_tables(source.folders[p], spec)
        where = source.folders[p]
    else:
        paths = sorted(Path(source.root).glob("*.parquet"))
        tables = {path.stem: _filtered_table(path, spec.identifier, p, source.partitions) for path in paths}
        where = source.root
    decoded = tables_to_panel(spec, tables)
    if decoded.issues:
        raise DataError([Issue(code=i.code, message=i.message, file=where, table=i.table, variable=i.variable,
                               row=i.row) for i in decoded.issues])
    return decoded.panel


def prepartition(spec: DatasetSpec, folder: str | Path, out: str | Path, partitions: int,
                 force: bool = False) -> list[Path]:
    """Split a dataset folder into ``out/part-NNNNN/`` folders by :func:`partition_of`, streaming row groups
    (memory: one row group per table). ``source/`` (national numbers) is not copied. Written atomically."""
    if partitions < 1:
        raise DataError([Issue(code="bad-value", message=f"partitions must be at least 1, got {partitions}")])
    paths = sorted(Path(folder).glob("*.parquet"))
    if not paths:
        raise DataError([Issue(code="missing-data", file=str(folder), message="the folder holds no .parquet table")])
    names = [f"{PART_PREFIX}{p:05d}" for p in range(partitions)]
    with atomic_folder(out, force=force) as tmp:
        for name in names:
            (tmp / name).mkdir()
        for path in paths:
            try:
                handle = pq.ParquetFile(path)
                schema = handle.schema_arrow
                writers = [pq.ParquetWriter(tmp / name / path.name, schema, compression="zstd") for name in names]
                try:
                    for batch in handle.iter_batches(batch_size=BATCH_ROWS):
                        part = partition_of(batch.column(spec.identifier).to_numpy(zero_copy_only=False),
                                            partitions)
                        for p, writer in enumerate(writers):
                            writer.write_table(pa.Table.from_batches([batch.filter(pa.array(part == p))], schema))
                finally:
                    for writer in writers:
                        writer.close()
            except (pa.ArrowInvalid, OSError, KeyError):
                raise _unreadable(path) from None
        write_json(tmp / "partitions.json", {"partitions": partitions, "partitioning": PARTITIONING,
                                             "identifier": spec.identifier})
    return [Path(out) / name for name in names]


# --- worker tasks --------------------------------------------------------------------------------------------


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
    ids: np.ndarray  # sorted
    names: dict[int, list[str]]  # the guard's columns per period, as picked on this partition
    counts: dict[BlockKey, np.ndarray]


def _summarise(panel: Panel, qi: list[str]) -> _Summary:
    names = {t: guard_mod.period_variables(panel, qi, t) for t in range(len(panel.periods))}
    return _Summary(np.sort(panel.ids), names, block_counts(panel))


def _hash_partition(panel: Panel, names: dict[int, list[str]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for t, columns in names.items():
        rows = np.nonzero(panel.present[t])[0]
        out[t] = np.unique(guard_mod.row_hashes(panel, columns, t, rows), return_counts=True)
    return out


@dataclass
class _Part:
    panel: Panel
    gaps: list[Gap]
    guard: dict[str, Any]
    plan: Any
    counts: dict[BlockKey, np.ndarray]
    timings: dict[str, float]


def _scramble_partition(spec: DatasetSpec, panel: Panel, persons: int, seed: int, p: int, partitions: int,
                        index: guard_mod.GuardIndex, exclude: np.ndarray, k: int | None,
                        codelist: bool | None) -> _Part:
    part_seed = int(np.random.SeedSequence([seed, partitions, p]).generate_state(1, np.uint64)[0])
    result = scramble(spec, panel, persons, part_seed, k=k, codelist_coverage=codelist, guard_index=index)
    low, high = id_range(p, partitions)
    rng = np.random.default_rng(np.random.SeedSequence([seed, partitions, p, 0x1D]))
    result.panel.ids = new_sequence_numbers(persons, rng, exclude=exclude, low=low, high=high)
    return _Part(result.panel, result.gaps, result.guard, result.plan, block_counts(result.panel), result.timings)


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
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client, f"LocalCluster({workers} workers)"


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
        raise UnsatisfiableError([Issue(code="bad-value", message=f"--persons must be at least 1, got {persons}")])
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
    qi = guard_mod._qi_variables(spec.scramble.guard_quasi_identifiers, Panel.empty(spec, 0))
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
    names = union_names(qi, [s.names for s in summaries])
    hashed = client.gather([client.submit(_hash_partition, panel, names, pure=False) for panel in panels])
    index = merge_index(names, hashed, spec.scramble.guard_k)
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
    ordered = [parts[p] for p in sorted(parts)]
    out = concat_panels(spec, [part.panel for part in ordered])
    _verify(index, out, all_ids)
    wanted = _sum_counts([s.counts for s in summaries])
    have = _sum_counts([part.counts for part in ordered])
    k_used = k if k is not None else spec.scramble.coverage_k
    gaps = coverage_gaps(spec, wanted, have, k_used,
                         codelist if codelist is not None else spec.scramble.coverage_codelist)
    held: dict[str, set[str]] = {}
    for (_t, _s, name), counts in wanted.items():
        held.setdefault(name, set()).update(spec.variables[name].codes[c] for c in np.nonzero(counts > 0)[0])
    gaps = explain_gaps(spec, gaps, held, 1)
    report = check(spec, panel_to_tables(out))
    timings["combine_and_check"] = time.perf_counter() - clock
    if not report.ok:
        raise UnsatisfiableError([Issue(code="check-failed", message="the combined scrambled data failed the "
                                        "independent check; nothing was written:\n" + report.format_text())])
    return DistributedResult(panel=out, plan=ordered[0].plan, gaps=gaps, guard=_merge_guard(index, ordered, spec),
                             report=report, timings=timings, partitions=P, scheduler=described,
                             partition_persons=shares, pre_partitioned=source.folders is not None,
                             input_fingerprint=input_fingerprint(input_folder))


def union_names(qi: list[str], parts: list[dict[int, list[str]]]) -> dict[int, list[str]]:
    """Per period, the guard columns some partition picks, in QI order: the columns every partition hashes
    (what build_index would pick on the whole input)."""
    return {t: [n for n in qi if any(n in part[t] for part in parts)] for t in parts[0]}


def merge_index(names: dict[int, list[str]], hashed: list[dict[int, tuple[np.ndarray, np.ndarray]]],
                k: int) -> guard_mod.GuardIndex:
    """One guard index from the partitions' (sorted unique hashes, counts) per period: what build_index gives
    on the whole input."""
    index = guard_mod.GuardIndex()
    for t, columns in names.items():
        hashes = np.concatenate([h[t][0] for h in hashed])
        counts = np.concatenate([h[t][1] for h in hashed])
        known, inverse = np.unique(hashes, return_inverse=True)
        index.names[t] = columns
        index.known[t] = known
        index.rare[t] = int((np.bincount(inverse, weights=counts, minlength=len(known)) < k).sum())
    return index


def allocate(persons: int, sizes: list[int]) -> list[int]:
    """Output persons per partition, proportional to input persons (largest remainder, ties to the lower
    partition), at least one for every non-empty partition so each one's categories are covered."""
    total = sum(sizes)
    live = sum(1 for s in sizes if s)
    if persons < live:
        raise UnsatisfiableError([Issue(code="bad-value", message=f"--persons {persons} is smaller than the "
                                        f"{live} non-empty partitions; use fewer partitions")])
    exact = [persons * s / total for s in sizes]
    shares = [int(x) for x in exact]
    for p in sorted(range(len(sizes)), key=lambda q: (shares[q] - exact[q], q))[:persons - sum(shares)]:
        shares[p] += 1
    for p in range(len(sizes)):
        while sizes[p] and shares[p] == 0:
            donor = max(range(len(sizes)), key=lambda q: (shares[q], -q))
            shares[donor] -= 1
            shares[p] += 1
    return shares


def concat_panels(spec: DatasetSpec, panels: list[Panel]) -> Panel:
    return Panel(spec=spec, ids=np.concatenate([p.ids for p in panels]),
                 present=np.concatenate([p.present for p in panels], axis=1),
                 static={n: np.concatenate([p.static[n] for p in panels]) for n in panels[0].static},
                 periodic={n: np.concatenate([p.periodic[n] for p in panels], axis=1) for n in panels[0].periodic})


def _verify(index: guard_mod.GuardIndex, out: Panel, input_ids: np.ndarray) -> None:
    """Global checks no partition can make alone: collisions against the whole input, ids unique and new."""
    issues = []
    hits = sum(len(guard_mod.collisions(index, out, t)) for t in range(len(out.periods)))
    if hits:
        issues.append(Issue(code="real-situation", message=f"{hits} person-period(s) equal an input person-period"))
    if len(np.unique(out.ids)) != out.n:
        issues.append(Issue(code="unique-error", message="sequence numbers repeat across partitions"))
    if np.isin(out.ids, input_ids).any():
        issues.append(Issue(code="id-reuse", message="a sequence number equals an input sequence number"))
    if issues:
        raise UnsatisfiableError(issues)


def _sum_counts(parts: list[dict[BlockKey, np.ndarray]]) -> dict[BlockKey, np.ndarray]:
    out: dict[BlockKey, np.ndarray] = {}
    for counts in parts:
        for key, c in counts.items():
            out[key] = out[key] + c if key in out else c.copy()
    return out


def coverage_gaps(spec: DatasetSpec, wanted: dict[BlockKey, np.ndarray], have: dict[BlockKey, np.ndarray],
                  k: int, codelist: bool) -> list[Gap]:
    """Categories short of k in the combined output: those of the whole input (or every allowed code)."""
    gaps = []
    for (table, suffix, name), counts in wanted.items():
        var = spec.variables[name]
        needed = counts > 0
        if codelist:
            needed |= build_domain(var).codes_mask[:-1]  # type: ignore[index]
        got = have.get((table, suffix, name), np.zeros_like(counts))
        for code in np.nonzero(needed & (got < k))[0]:
            gaps.append(Gap(table, suffix, name, var.codes[code], k, int(got[code])))
    return gaps


def _merge_guard(index: guard_mod.GuardIndex, parts: list[_Part], spec: DatasetSpec) -> dict[str, Any]:
    guard = dict(parts[0].guard)
    guard["collisions_before"] = {period: sum(p.guard["collisions_before"][period] for p in parts)
                                  for period in guard["collisions_before"]}
    guard["rounds"] = max(p.guard["rounds"] for p in parts)
    guard["input_rare_combinations"] = {str(spec.panel.periods[t]): n for t, n in index.rare.items()}
    return guard
