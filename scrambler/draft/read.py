"""Reading a dataset folder the draft has never seen: one function per file, so that the switch to the
project's readers (``scrambler/readers/``) is one line here.

Only the table files at the top of the folder are read (``source/`` and the JSON side files are not: a draft
must not learn the answer from a ``datapackage.json`` written from a spec).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from scrambler.errors import DataError, Issue

SUFFIXES = (".parquet", ".csv", ".csv.gz", ".dta", ".sav", ".sas7bdat", ".xpt")
SAS = (".sas7bdat", ".xpt")  # read by the project's readers (scrambler/readers/), types inferred cautiously
LABEL = b"label"  # field metadata: the column's label
VALUE_LABELS = b"value_labels"  # field metadata: JSON {code: label}


def table_files(folder: str | Path) -> dict[str, Path]:
    """Table name (file name without its extension) -> path, for the tables at the top of ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError([Issue(code="missing-data", file=str(root), message=f"the data folder {what}")])
    found: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        suffix = next((s for s in SUFFIXES if path.name.lower().endswith(s)), None)
        if suffix is None or not path.is_file():
            continue
        name = path.name[: -len(suffix)]
        if name in found:
            raise DataError([Issue(code="duplicate-table", file=str(path),
                                   message=f"table {name!r} is also in {found[name].name}")])
        found[name] = path
    if not found:
        raise DataError([Issue(code="missing-data", file=str(root),
                               message=f"the folder holds no table ({', '.join(SUFFIXES)})")])
    return found


def read_table(path: Path) -> pa.Table:
    """One table as Arrow. CSV cells are read as text so that codes keep their leading zeros; the draft
    decides the types from the texts."""
    try:
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if path.name.endswith((".dta", ".sav")):
            return _labelled(path)
        if path.name.lower().endswith(SAS):
            from scrambler.readers import read_table as read_any

            return read_any(path)  # codes as text, labels in the same field metadata as _labelled's
        import pyarrow.csv as pcsv

        header = pcsv.read_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 16)).column_names
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=True))
        return pa.table({name: _numbers(table.column(name)) for name in table.column_names})
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise DataError([Issue(code="unreadable-file", file=str(path), message=f"cannot read the table: {exc}")]
                        ) from None


def _numbers(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A CSV column of numbers as numbers; a code with a leading zero (province 04000) keeps the column text."""
    import pyarrow.compute as pc

    texts = column.drop_null()
    if len(texts) == 0 or pc.any(pc.match_substring_regex(texts, r"^-?0[0-9]")).as_py():
        return column
    for target in (pa.int64(), pa.float64()):
        try:
            return pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column


def _labelled(path: Path) -> pa.Table:
    """Stata or SPSS through pyreadstat: values as stored, the column and value labels in field metadata."""
    import json

    import pyreadstat

    reader = pyreadstat.read_dta if path.name.endswith(".dta") else pyreadstat.read_sav
    frame, meta = reader(str(path), apply_value_formats=False)
    for name in frame.columns:  # both formats store every number as a double: whole columns are whole numbers
        col = frame[name]
        if col.dtype.kind == "f" and col.notna().all() and (col == col.round()).all():
            frame[name] = col.astype("int64")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        extra: dict[bytes, bytes] = {}
        label = (meta.column_names_to_labels or {}).get(field.name)
        if label:
            extra[LABEL] = str(label).encode()
        values = (meta.variable_value_labels or {}).get(field.name)
        if values:
            extra[VALUE_LABELS] = json.dumps({_code(k): str(v) for k, v in values.items()}).encode()
        fields.append(field.with_metadata(extra) if extra else field.with_metadata(None))
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def _code(value: object) -> str:
    """A labelled value as the code text the checker reads (3.0 -> "3")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
