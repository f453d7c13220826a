"""Import layer: read the spec's tables from the files an extract comes in (see docs/bring-your-own-data.md).

The mirror of :mod:`scrambler.formats` (export). One module per format behind one interface (``SUFFIXES``,
``columns(path)``, ``open_raw(path, wanted) -> RawFile``), chosen by file extension. :func:`read_table` is the
single entry point: it streams a file's batches, decodes each column by the spec's type
(:mod:`scrambler.readers._conform`) and returns one Arrow table in the engine's types, or raises one
:class:`~scrambler.errors.DataError` naming every bad column of the file with its rows and values.

A dataset folder holds one file per table, named after the table (``persons_2021.csv.gz``), in any of these
formats; :func:`find_tables` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import pyarrow as pa

from scrambler.errors import DataError, Issue
from scrambler.readers import csv, parquet, sas, spss, stata
from scrambler.readers._conform import Column, Problems, conform, infer, needs_decoding
from scrambler.readers._raw import RawFile
from scrambler.spec.model import DatasetSpec, Variable

READERS: tuple[ModuleType, ...] = (parquet, csv, sas, stata, spss)
#: extension -> reader module; the longest extension that a name ends with wins (".csv.gz" before ".gz").
REGISTRY: dict[str, ModuleType] = {suffix: module for module in READERS for suffix in module.SUFFIXES}
SUFFIXES: tuple[str, ...] = tuple(sorted(REGISTRY, key=len, reverse=True))
#: Files the exporters write beside the tables (formats/csv.py): documentation, never a table.
NOT_TABLES = frozenset({"codebook.csv"})
#: Stata and SPSS exports keep a non-numeric code in a companion text column (formats/_labelled.py).
COMPANION = "_code"


def suffix_of(path: Path) -> str | None:
    """The registered extension of a file name (case-insensitive), or None."""
    name = path.name.lower()
    return next((s for s in SUFFIXES if name.endswith(s) and len(name) > len(s)), None)


def table_name(path: Path) -> str:
    suffix = suffix_of(path)
    return path.name[: -len(suffix)] if suffix else path.stem


def find_tables(folder: str | Path) -> dict[str, Path]:
    """Table name -> file for every readable file of a folder (hidden files and export codebooks skipped).

    Two files for one table (``persons.csv`` and ``persons.parquet``) are refused: which one is meant?
    """
    root = Path(folder)
    found: dict[str, list[Path]] = {}
    for path in sorted(root.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name.lower() not in NOT_TABLES \
                and suffix_of(path):
            found.setdefault(table_name(path), []).append(path)
    twice = {name: paths for name, paths in found.items() if len(paths) > 1}
    if twice:
        raise DataError([Issue(code="ambiguous-table", table=name, file=", ".join(str(p) for p in paths),
                               message="several files hold this table; keep one") for name, paths in twice.items()])
    return {name: paths[0] for name, paths in found.items()}


def reader_for(path: Path) -> ModuleType:
    suffix = suffix_of(path)
    if suffix is None:
        raise DataError([Issue(code="unknown-format", file=str(path),
                               message=f"not a table file; readable extensions: {', '.join(sorted(REGISTRY))}")])
    return REGISTRY[suffix]


def columns_of(path: str | Path) -> list[str]:
    """The column names of a table file, read from its header or metadata only."""
    path = Path(path)
    return list(reader_for(path).columns(path))


def spec_columns(spec: DatasetSpec) -> dict[str, Variable]:
    """Column name -> variable over all the spec's tables (``province_next`` -> ``province``)."""
    from scrambler.tables import table_columns

    out: dict[str, Variable] = {}
    for _, table, _ in spec.table_names():
        for column, var, _offset in table_columns(spec, table):
            out.setdefault(column, var)
    return out


def read_table(path: str | Path, spec: DatasetSpec | Mapping[str, Variable] | None = None,
               columns: Sequence[str] | None = None) -> pa.Table:
    """One table file as an Arrow table.

    With ``spec`` (a spec, or column name -> variable) every column the spec knows is decoded by its
    variable's type (:func:`scrambler.tables.arrow_type`); other columns are kept as read (the checker
    reports them). Without a spec, types are inferred cautiously (:func:`scrambler.readers._conform.infer`):
    codes stay text. ``columns``: read only these. Variable labels and value labels the file carries are
    kept in each field's metadata (``label``, ``value_labels`` as JSON of value -> label).
    """
    path = Path(path)
    reader = reader_for(path)
    types = spec_columns(spec) if isinstance(spec, DatasetSpec) else dict(spec or {})
    present = list(reader.columns(path))
    wanted = list(columns) if columns is not None else present
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataError([Issue(code="missing-column", file=str(path), variable=", ".join(missing),
                               message="the file has no such column")])
    # a Stata/SPSS export's "x_code" companion holds the code text of "x": read it in its place
    companions = {c: c + COMPANION for c in wanted if c in types and types[c].is_categorical
                  and c + COMPANION in present and c + COMPANION not in types}
    raw = reader.open_raw(path, wanted + [c for c in companions.values() if c not in wanted])
    return decode(raw, Problems(file=str(path), table=table_name(path)), types, wanted, companions,
                  typed=bool(getattr(reader, "TYPED", False)))


def decode(raw: RawFile, problems: Problems, types: Mapping[str, Variable], wanted: Sequence[str] | None = None,
           companions: Mapping[str, str] | None = None, typed: bool = False) -> pa.Table:
    """Decode a raw source (a file, or a database query: :mod:`scrambler.readers.database`) by ``types``."""
    from scrambler.tables import arrow_type

    wanted = list(raw.columns) if wanted is None else list(wanted)
    companions = companions or {}
    keep = [c for c in wanted if c not in set(companions.values())]
    batches: list[pa.RecordBatch] = []
    first_row = 1
    for batch in raw.batches:
        arrays = []
        for name in keep:
            source = companions.get(name, name)
            values = batch.column(source)
            var = types.get(name)
            labels = None if source != name else raw.value_labels.get(name)
            if var is None or (typed and not needs_decoding(values, var)):
                arrays.append(values)
            else:
                arrays.append(conform(Column(name, values, first_row, labels), var, problems))
        batches.append(pa.RecordBatch.from_arrays(arrays, names=keep))
        first_row += batch.num_rows
    if problems.issues:
        raise DataError(problems.issues)
    if batches:
        table = pa.Table.from_batches(batches)
    else:  # no rows: the columns still get their types
        table = pa.table({n: pa.array([], arrow_type(types[n]) if n in types else pa.string()) for n in keep})
    if any(pa.types.is_dictionary(t) for t in table.schema.types) and len(batches) > 1:
        table = table.unify_dictionaries()  # unknown codes grow a batch's dictionary: give all chunks one
    if not types:
        table = pa.table({n: infer(table.column(n)) for n in keep})
    return _with_labels(table, raw)


def _with_labels(table: pa.Table, raw: RawFile) -> pa.Table:
    if not raw.column_labels and not raw.value_labels:
        return table
    fields = []
    for f in table.schema:
        meta = dict(f.metadata or {})
        if f.name in raw.column_labels:
            meta[b"label"] = raw.column_labels[f.name].encode()
        if f.name in raw.value_labels:
            labels = {_number_text(k): v for k, v in raw.value_labels[f.name].items()}
            meta[b"value_labels"] = json.dumps(labels, ensure_ascii=False).encode()
        fields.append(f.with_metadata(meta) if meta else f)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


__all__ = ["REGISTRY", "SUFFIXES", "columns_of", "find_tables", "read_table", "spec_columns", "suffix_of"]
