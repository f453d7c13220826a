"""Tables from a PostgreSQL database, through ADBC: query results arrive as Arrow batches, no Python loop per row.

A small mapping file (YAML) says where each of the spec's tables lives::

    tables:
      persons_2020: {table: extract.persons_2020}          # a table or view (schema-qualified or not)
      persons_2021: {query: "SELECT * FROM extract.p WHERE year = 2021"}

A table the mapping does not name is read from the SQL table of the same name. Results are decoded by the
spec's types exactly as files are (:mod:`scrambler.readers._conform`), so a ``varchar`` code keeps its zeros.
The URL (``postgresql://user@host:port/db``) may carry a password; it is never written to any output or
message (see :func:`redact`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from scrambler.errors import DataError, Issue
from scrambler.readers._conform import Problems
from scrambler.readers._raw import RawFile
from scrambler.spec.model import DatasetSpec

SCHEMES = ("postgresql://", "postgres://")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def is_url(source: str) -> bool:
    return source.startswith(SCHEMES)


def redact(url: str) -> str:
    """The URL without its password (``postgresql://user:***@host/db``)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def load_mapping(path: str | Path | None, spec: DatasetSpec) -> dict[str, str]:
    """Spec table name -> SQL query; every table of the spec gets one."""
    entries: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DataError([Issue(code="unreadable-file", file=str(path), message=f"not a YAML file: {exc}")]
                            ) from None
        entries = data.get("tables", {}) if isinstance(data, dict) else None  # type: ignore[assignment]
        if not isinstance(entries, dict):
            raise DataError([Issue(code="bad-mapping", file=str(path),
                                   message="expected a 'tables:' mapping of spec table -> {table: ...} or {query: ...}")])
    known = {name for name, _, _ in spec.table_names()}
    issues = [Issue(code="unknown-table", file=str(path), table=str(name), message="the spec declares no such table")
              for name in entries if name not in known]
    queries: dict[str, str] = {}
    for name in sorted(known):
        entry = entries.get(name, {"table": name})
        if not isinstance(entry, dict) or len(entry) != 1 or not ({"table", "query"} & set(entry)):
            issues.append(Issue(code="bad-mapping", file=str(path), table=name,
                                message="give exactly one of 'table: NAME' or 'query: SELECT ...'"))
            continue
        if "query" in entry:
            queries[name] = str(entry["query"])
        elif _NAME.match(str(entry["table"])):
            queries[name] = f"SELECT * FROM {entry['table']}"
        else:
            issues.append(Issue(code="bad-mapping", file=str(path), table=name,
                                message=f"{entry['table']!r} is not a table name (schema.table); use 'query:'"))
    if issues:
        raise DataError(issues)
    return queries


def connect(url: str) -> Any:
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError:  # pragma: no cover - a dependency of the package
        raise DataError([Issue(code="missing-driver", message="reading PostgreSQL needs adbc-driver-postgresql "
                               "(pip install adbc-driver-postgresql)")]) from None
    try:
        return dbapi.connect(url)
    except Exception as exc:  # the driver's own error classes; the URL (password) is not quoted
        raise DataError([Issue(code="database-error", file=redact(url),
                               message=f"cannot connect: {type(exc).__name__}")]) from None


def read_query(connection: Any, url: str, table: str, query: str, spec: DatasetSpec) -> pa.Table:
    """One spec table from its query, decoded by the spec's types."""
    from scrambler.readers import decode, spec_columns

    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            reader = cursor.fetch_record_batch()
            names = list(reader.schema.names)
            batches: list[pa.RecordBatch] = list(reader)
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError([Issue(code="database-error", file=redact(url), table=table,
                               message=f"the query failed: {message}")]) from None

    def stream() -> Iterator[pa.RecordBatch]:
        yield from batches

    raw = RawFile(columns=names, batches=stream())
    return decode(raw, Problems(file=f"{redact(url)} ({query})", table=table), spec_columns(spec))


def read_tables(url: str, spec: DatasetSpec, mapping: str | Path | None) -> Iterator[tuple[str, pa.Table]]:
    """Every spec table from the database, one at a time."""
    queries = load_mapping(mapping, spec)
    connection = connect(url)
    try:
        for name, query in queries.items():
            yield name, read_query(connection, url, name, query, spec)
    finally:
        connection.close()

