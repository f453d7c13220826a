"""``scrambler import``: convert an extract once into the canonical Parquet folder, verified by the checker.

The source is a folder of table files in any format :mod:`scrambler.readers` reads, or a PostgreSQL URL with
a mapping file (:mod:`scrambler.readers.database`). Each table is decoded by the spec's types and written as
the engine writes its own tables (:func:`scrambler.tables.arrow_type`); cells are not otherwise touched, and
rows keep their order. The folder is written atomically with ``datapackage.json`` and ``manifest.json``, and
the independent check runs on the written files before it is moved into place: data that break the spec are
never published (the error names the rules). The source is only read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from scrambler.errors import DataError, Issue
from scrambler.output import atomic_folder, write_json, write_tables
from scrambler.package import FILE as PACKAGE_FILE
from scrambler.package import datapackage
from scrambler.spec.model import DatasetSpec

LABEL = "Real data imported for scrambling: confidential, never to be shared"


def canonical(spec: DatasetSpec, name: str, table: pa.Table) -> pa.Table:
    """Spec columns in the engine's Arrow types (a column that cannot be cast is kept for the check to name)."""
    from scrambler.readers import spec_columns
    from scrambler.tables import arrow_type

    types = spec_columns(spec)
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        var = types.get(field.name)
        if var is not None and column.type != arrow_type(var):
            try:
                column = column.cast(arrow_type(var))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _from_folder(spec: DatasetSpec, folder: Path) -> tuple[Iterator[tuple[str, pa.Table]], dict[str, str]]:
    from scrambler.readers import columns_of, find_tables, read_table

    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DataError([Issue(code="missing-data", file=str(folder), message=f"the source folder {what}")])
    paths = find_tables(folder)
    known = {name for name, _, _ in spec.table_names()}
    issues = [Issue(code="unexpected-table", file=str(path), table=name, message="the spec declares no such "
                    "table; remove the file or declare the table") for name, path in paths.items() if name not in known]
    issues += [Issue(code="missing-table", file=str(folder), table=name, message="no file holds this table")
               for name in sorted(known - set(paths))]
    if issues:
        raise DataError(issues)
    for path in paths.values():
        columns_of(path)  # an unreadable file fails before anything is written

    def tables() -> Iterator[tuple[str, pa.Table]]:
        for name, path in paths.items():
            yield name, read_table(path, spec)

    return tables(), {name: path.name for name, path in paths.items()}


def import_dataset(spec: DatasetSpec, source: str | Path, out: str | Path, mapping: str | Path | None = None,
                   force: bool = False) -> dict[str, Any]:
    """Convert ``source`` into a checked Parquet folder at ``out``; returns the manifest written."""
    from scrambler.check import check
    from scrambler.datasets import versions
    from scrambler.readers import database

    text = str(source)
    if database.is_url(text):
        tables = database.read_tables(text, spec, mapping)
        origin: dict[str, Any] = {"database": database.redact(text),
                                  "mapping": str(mapping) if mapping is not None else None}
    else:
        if mapping is not None:
            raise DataError([Issue(code="bad-value", file=str(mapping),
                                   message="--map is for a database URL; a folder's files are named after the tables")])
        tables, files = _from_folder(spec, Path(source))
        origin = {"folder": str(source), "files": files}
    with atomic_folder(out, force=force) as tmp:
        counts: dict[str, int] = {}
        for name, table in tables:
            counts.update(write_tables(tmp, {name: canonical(spec, name, table)}, (spec.identifier,)))
            del table
        report = check(spec, tmp)
        if not report.ok:
            raise DataError([Issue(code="check-failed", file=str(source), message="the imported tables break "
                                   "the spec; nothing was written:\n" + report.format_text())])
        write_json(tmp / PACKAGE_FILE, datapackage(spec, counts, LABEL))
        manifest = {"kind": "import", "source": origin, "dataset": spec.name, "spec_fingerprint": spec.fingerprint,
                    "persons": report.persons, "rows": counts, "label": LABEL, "versions": versions(),
                    "verified": {"violations": 0, "rules": len(report.results),
                                 "row_checks": sum(r.checked for r in report.results)}}
        write_json(tmp / "manifest.json", manifest)
    return manifest
