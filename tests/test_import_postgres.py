"""``scrambler import`` from a real PostgreSQL server that this test starts (initdb on a free loopback port).

Skipped only when the PostgreSQL server binaries are absent (Debian package ``postgresql``; .ci/run installs
it). As root (CI), the cluster runs as the ``postgres`` user: initdb refuses to run as root.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from scrambler.check import check
from scrambler.datasets import write_dataset
from scrambler.population import generate_population
from scrambler.readers import find_tables
from scrambler.spec import DatasetSpec


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


BINDIR = _bindir()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if BINDIR is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="scrambler-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres system user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    run = lambda *args: subprocess.run([*as_user, *map(str, args)], check=True, capture_output=True,  # noqa: E731
                                       text=True, timeout=120)
    run(BINDIR / "initdb", "-D", data, "-U", "scrambler", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(BINDIR / "pg_ctl", "-D", data, "-w", "-l", root / "log", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql://scrambler@127.0.0.1:{port}/postgres"
    finally:
        run(BINDIR / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _plain(table: pa.Table) -> pa.Table:
    """Codes as varchar (dictionary columns are not SQL types)."""
    return pa.table({n: pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c
                     for n, c in zip(table.column_names, table.columns, strict=True)})


def test_import_from_postgresql(postgres_url: str, mini_spec: DatasetSpec, mini_dir: Path, run_cli,
                                tmp_path: Path) -> None:
    import adbc_driver_postgresql.dbapi as dbapi

    write_dataset(generate_population(mini_spec, 50, 6), tmp_path / "source", {"kind": "population"}, "test")
    tables = find_tables(tmp_path / "source")
    with dbapi.connect(postgres_url) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA extract")
            for name, path in tables.items():
                cur.adbc_ingest(name, _plain(pq.read_table(path)), mode="create", db_schema_name="extract")
        conn.commit()
    first, second = sorted(tables)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(f"tables:\n  {first}: {{table: extract.{first}}}\n"
                       f"  {second}: {{query: \"SELECT * FROM extract.{second} ORDER BY person_id\"}}\n")
    out = tmp_path / "imported"
    proc = run_cli("import", mini_dir, "--from", postgres_url, "--map", mapping, "--out", out)
    assert proc.returncode == 0, proc.stderr
    for name, path in tables.items():
        expected, got = pq.read_table(path), pq.read_table(out / f"{name}.parquet")
        assert got.schema.types == expected.schema.types
        for column in expected.column_names:
            assert sorted(map(str, got.column(column).to_pylist())) == \
                sorted(map(str, expected.column(column).to_pylist())), (name, column)
        ids = expected.column("person_id").to_pylist()
        back = dict(zip(got.column("person_id").to_pylist(), got.to_pylist(), strict=True))
        assert [back[i] for i in ids] == expected.to_pylist()  # every row, every cell
    assert check(mini_spec, out).ok
    assert json.loads((out / "manifest.json").read_text())["source"]["database"] == postgres_url

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"tables:\n  {first}: {{table: extract.nosuch}}\n")
    proc = run_cli("import", mini_dir, "--from", postgres_url, "--map", bad, "--out", tmp_path / "never")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "database-error" in proc.stderr and f"table {first}" in proc.stderr
    assert not (tmp_path / "never").exists()
