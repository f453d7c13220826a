"""The Dask engine (``scramble --engine dask``) on a 2-worker LocalCluster: the same guarantees as the local
engine - 0 violations, coverage, new ids, no real situation - and the same output for the same seed and P,
whatever the cluster and whether the input was pre-partitioned."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scrambler.check import check
from scrambler.combine import allocate
from scrambler.datasets import read_dataset, write_dataset
from scrambler.distributed import DistributedResult, connect, id_range, scramble_dask
from scrambler.errors import DataError
from scrambler.identifiers import SEQUENCE_HIGH, SEQUENCE_LOW
from scrambler.panel import Panel
from scrambler.partitions import partition_of, prepartition, read_partition, resolve_input
from scrambler.population import generate_population
from scrambler.scramble import guard, guard_index
from scrambler.scramble.pipeline import content_hash
from scrambler.spec import DatasetSpec
from scrambler.tables import panel_to_tables

POPULATION = 2500
PERSONS = 1500
PARTITIONS = 3
SEED = 17


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The engine's own LocalCluster; once closed, this process's environment is as before (dask's nanny
    writes MALLOC_TRIM_THRESHOLD_ and others into it, which later tests' subprocesses then inherited)."""
    before = dict(os.environ)
    with connect(None, 2) as (c, _):
        assert "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in before  # what dask sets
        yield c
    assert dict(os.environ) == before


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory, mini_spec: DatasetSpec) -> Path:
    out = tmp_path_factory.mktemp("dask") / "population"
    write_dataset(generate_population(mini_spec, POPULATION, 3), out, {}, "population", with_source=True)
    return out


@pytest.fixture(scope="module")
def result(mini_spec: DatasetSpec, population: Path, client: Any) -> DistributedResult:
    return scramble_dask(mini_spec, population, PERSONS, SEED, partitions=PARTITIONS, client=client)


def test_partition_function_is_pinned() -> None:
    # a change here re-partitions every pre-partitioned input and changes every result: keep it stable
    assert partition_of(np.array([1, 2, 3, 10**9 + 7, 8_123_456_789]), 7).tolist() == [2, 4, 2, 5, 5]
    ids = np.arange(1, 100_001)
    counts = np.bincount(partition_of(ids, 4), minlength=4)
    assert counts.min() > 24_000  # sequential ids spread evenly


def test_allocate_and_id_ranges() -> None:
    assert allocate(10, [5, 5]) == [5, 5]
    assert allocate(10, [1, 0, 999]) == [1, 0, 9]  # every non-empty partition gets a person
    assert sum(allocate(1001, [3, 7, 11])) == 1001
    ranges = [id_range(p, 5) for p in range(5)]
    assert ranges[0][0] == SEQUENCE_LOW and ranges[-1][1] <= SEQUENCE_HIGH
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_partitions_cover_the_input_once(mini_spec: DatasetSpec, population: Path) -> None:
    whole = read_dataset(mini_spec, population)
    source = resolve_input(population, PARTITIONS, default=2)
    parts = [read_partition(mini_spec, source, p) for p in range(PARTITIONS)]
    ids = np.concatenate([p.ids for p in parts])
    assert sorted(ids.tolist()) == sorted(whole.ids.tolist())
    assert all((partition_of(p.ids, PARTITIONS) == i).all() for i, p in enumerate(parts))


def test_scrambled_output_keeps_every_guarantee(mini_spec: DatasetSpec, population: Path,
                                                result: DistributedResult) -> None:
    source = read_dataset(mini_spec, population)
    out = result.panel
    assert out.n == PERSONS and sum(result.partition_persons) == PERSONS
    assert check(mini_spec, out).ok and result.report.violations == 0
    assert len(np.unique(out.ids)) == out.n
    assert not np.isin(out.ids, source.ids).any()
    assert result.gaps == []
    assert result.guard["collisions_after"] == 0
    assert equal_year_blocks(source, out) == 0
    # near-copies too, judged against the whole input (a partition's persons near another partition's)
    assert guard.remaining(guard_index.build_index(source), out) == []
    assert result.guard["path_copies_before"] >= 0 and "outsider" in result.guard
    assert equal_year_blocks(source, source) > 0  # the recount does find equal blocks


def test_global_guard_index_equals_the_whole_input_index(mini_spec: DatasetSpec, population: Path,
                                                         result: DistributedResult) -> None:
    """The index assembled from the partitions' parts forbids exactly what build_index on the whole input
    forbids: the same exact keys, the same near-copy verdicts for person-periods and paths."""
    from scrambler.distributed import _summarise
    from scrambler.scramble.spread import spread_of

    whole = read_dataset(mini_spec, population)
    expected = guard_index.build_index(whole)
    source = resolve_input(population, PARTITIONS, default=2)
    parts = [read_partition(mini_spec, source, p) for p in range(PARTITIONS)]
    qi = guard.qi_variables(mini_spec)
    summaries = [_summarise(p, qi) for p in parts]
    spreads = {n: spread_of(np.concatenate([s.spreads[n] for s in summaries])) for n in summaries[0].spreads}
    tolerance = guard.tolerances(mini_spec, qi, spreads)
    assert tolerance == pytest.approx(expected.tolerance, rel=0.05)  # a strided sample of other persons
    skeleton = guard_index.index_skeleton(mini_spec, qi, expected.tolerance, mini_spec.scramble.guard_k)
    merged = guard_index.assemble_index(skeleton, [guard_index.index_part(skeleton, p) for p in parts])
    assert merged.names == expected.names and set(merged.near) == set(expected.near)
    assert set(merged.path) == set(expected.path) and expected.path  # the mini spec guards numeric paths
    for t in expected.known:
        assert np.array_equal(merged.known[t], expected.known[t])
        assert merged.rare_counts()[t] == expected.rare_counts()[t]
    # the verdicts on the scrambled persons and on real ones (which match themselves)
    for panel in (result.panel, whole):
        for t in range(len(panel.periods)):
            assert np.array_equal(guard.collisions(merged, panel, t), guard.collisions(expected, panel, t))
        for name in expected.path:
            persons = np.arange(panel.n)
            assert np.array_equal(guard.path_counts(merged, panel, name, persons, 5),
                                  guard.path_counts(expected, panel, name, persons, 5))
    assert len(guard.path_copies(expected, whole)) > 0  # real persons are near-copies of someone: it finds them


def test_one_partition_is_the_local_engine(mini_dir: Path, population: Path, client: Any, run_cli,
                                           tmp_path: Path) -> None:
    """--engine dask --partitions 1 runs the local engine's stages on the same seed: every manifest figure
    (output hash, methods, gaps, guard and near-copy figures, violations, input fingerprint) equals the local
    run's; only how it ran differs."""
    manifests = {}
    for engine in ("local", "dask"):
        extra = ["--engine", "dask", "--partitions", 1, "--scheduler", client.scheduler.address] \
            if engine == "dask" else []
        out = tmp_path / engine
        run = run_cli("scramble", mini_dir, "--input", population, "--out", out, "--persons", 300,
                      "--seed", SEED, "--k", 200, "--no-reports", *extra)
        assert run.returncode == 0, run.stderr
        manifests[engine] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    local, dask = manifests["local"], manifests["dask"]
    assert dask["engine"] == "dask" and dask["partitions"] == 1
    ran = {"engine", "partitions", "scheduler", "partitioning", "partition_persons", "timings_s", "created",
           "command", "elapsed_s"}
    assert set(local) - ran == set(dask) - ran
    for key in sorted(set(local) - ran):
        assert dask[key] == local[key], key
    assert local["guard"]["path_copies_before"] > 0 or local["guard"]["collisions_before"]  # the guard worked
    assert local["coverage_gaps"]  # k = 200 on 300 persons leaves gaps: both engines state the same ones


def test_same_seed_and_partitions_give_the_same_output(mini_spec: DatasetSpec, population: Path, client: Any,
                                                       result: DistributedResult, tmp_path: Path) -> None:
    again = scramble_dask(mini_spec, population, PERSONS, SEED, partitions=PARTITIONS, client=client)
    assert content_hash(again.panel) == content_hash(result.panel)
    parts = prepartition(mini_spec, population, tmp_path / "parts", PARTITIONS)
    assert [p.name for p in parts] == ["part-00000", "part-00001", "part-00002"]
    assert not (parts[0] / "source").exists()  # national numbers are not copied
    pre = scramble_dask(mini_spec, tmp_path / "parts", PERSONS, SEED, client=client)
    assert pre.partitions == PARTITIONS and pre.pre_partitioned
    assert content_hash(pre.panel) == content_hash(result.panel)
    other = scramble_dask(mini_spec, population, PERSONS, SEED + 1, partitions=PARTITIONS, client=client)
    assert content_hash(other.panel) != content_hash(result.panel)


def test_a_csv_folder_is_taken_as_its_parquet_form(mini_spec: DatasetSpec, population: Path, client: Any,
                                                   result: DistributedResult, tmp_path: Path) -> None:
    """The dask engine reads what the local one reads: the population written by pandas as CSV (codes as text,
    booleans as True/False) gives the same output as its Parquet form, same seed and P."""
    import pyarrow.parquet as pq

    for path in population.glob("*.parquet"):
        pq.read_table(path).to_pandas().to_csv(tmp_path / f"{path.stem}.csv", index=False)
    from_csv = scramble_dask(mini_spec, tmp_path, PERSONS, SEED, partitions=PARTITIONS, client=client)
    assert content_hash(from_csv.panel) == content_hash(result.panel)


def test_pre_partitioned_count_must_match(mini_spec: DatasetSpec, population: Path, tmp_path: Path) -> None:
    prepartition(mini_spec, population, tmp_path / "parts", 2)
    with pytest.raises(DataError, match="pre-partitioned into 2"):
        resolve_input(tmp_path / "parts", 3, default=2)


def test_worker_errors_come_back_with_their_codes(mini_spec: DatasetSpec, population: Path, client: Any,
                                                  tmp_path: Path) -> None:
    parts = prepartition(mini_spec, population, tmp_path / "parts", 2)
    next(parts[1].glob("*.parquet")).write_bytes(b"not parquet")
    with pytest.raises(DataError, match="partition 1: not a Parquet file") as caught:
        scramble_dask(mini_spec, tmp_path / "parts", 100, SEED, client=client)
    assert caught.value.issues[0].code == "unreadable-file"


def test_cli_engine_dask(mini_dir: Path, mini_spec: DatasetSpec, population: Path, client: Any,
                         result: DistributedResult, run_cli, tmp_path: Path) -> None:
    """Through the command line, on the module's cluster (--scheduler) and on its own LocalCluster: the same
    content as the library run, and `scrambler check` accepts it."""
    outputs = {"scheduler": tmp_path / "on-scheduler", "local": tmp_path / "on-local-cluster"}
    for how, out in outputs.items():
        extra = ["--scheduler", client.scheduler.address] if how == "scheduler" else []
        run = run_cli("scramble", mini_dir, "--input", population, "--out", out, "--persons", PERSONS,
                      "--seed", SEED, "--engine", "dask", "--partitions", PARTITIONS, "--no-reports", *extra)
        assert run.returncode == 0, run.stderr
        assert "violations 0" in run.stdout
        checked = run_cli("check", mini_dir, out)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["engine"] == "dask" and manifest["partitions"] == PARTITIONS
        assert manifest["content_hash"] == content_hash(result.panel)
        assert manifest["violations"] == 0 and manifest["coverage_gaps"] == []
        written = read_dataset(mini_spec, out)
        assert equal_year_blocks(read_dataset(mini_spec, population), written) == 0
    assert client.scheduler.address in json.loads((outputs["scheduler"] / "manifest.json").read_text())["scheduler"]


def test_cli_refuses_dask_flags_without_the_engine(mini_dir: Path, population: Path, run_cli,
                                                   tmp_path: Path) -> None:
    run = run_cli("scramble", mini_dir, "--input", population, "--out", tmp_path / "x", "--persons", 10,
                  "--partitions", 2)
    assert run.returncode == 1 and "--engine dask" in run.stderr


def equal_year_blocks(source: Panel, out: Panel) -> int:
    """Output table rows whose own-year block (the offset-0 columns, the guard's unit) equals the own-year
    block of some input row of the same table, counted with a pandas join on the encoded tables (independent
    of the guard's hashing). The mini spec has one table per period, so a table's block is the period's."""
    spec = source.spec
    published = {v.name for v in spec.data_variables if v.publish}
    before, after = panel_to_tables(source), panel_to_tables(out)
    total = 0
    for name, table, _ in spec.table_names():
        columns = [v + b.suffix for b in table.blocks if b.offset == 0 for v in b.variables if v in published]
        known = before[name].select(columns).to_pandas().drop_duplicates()
        total += len(after[name].select(columns).to_pandas().merge(known, on=columns, how="inner"))
    return total
