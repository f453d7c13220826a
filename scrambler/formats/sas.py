"""SAS export: CSV files plus one generated ``load_<table>.sas`` program per table.

pyreadstat cannot write SAS data sets that SAS reads back with formats (xport drops them, sas7bdat writing
is unsupported), so the export is data in CSV and the code SAS needs to read it exactly:

- PROC FORMAT builds one value format per coded variable from the codebook: a numeric format when every
  code is a plain integer (same rule as Stata/SPSS), else a ``$`` character format that labels the codes
  as they are -- SAS labels strings natively, so no 1..K recoding or companion column is needed.
- A DATA step reads the CSV with INFILE (DSD, FIRSTOBS=2, ENCODING='utf-8'), fixes every variable's type
  and byte length with LENGTH, reads with explicit informats, and attaches LABEL and FORMAT statements.

Booleans are written 1/0 (format ``yesno_f``) so they are numbers in SAS. Text with line breaks is refused:
SAS list input cannot read a quoted field spanning lines. Strings are measured in UTF-8 bytes, so the
program must run in a UTF-8 SAS session (docs/formats.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scrambler.errors import DataError, Issue
from scrambler.formats._atomic import write_each, write_text_atomic
from scrambler.formats._common import CodePlan, Column, clip, normalize, own_array, plan_codes, resolve
from scrambler.formats._names import SAS, check_names
from scrambler.formats._texts import distinct_codes, recode, text_column
from scrambler.formats.codebook import Codebook, ColumnInfo
from scrambler.formats.csv import write_csv

CSV_SUFFIX = ".csv"
LABEL_CHARS = 256
MAX_CHAR_LENGTH = 32_767
BOOLEAN_FORMAT = "yesno_f"
NUMBER_INFORMAT = "best32."


@dataclass(frozen=True)
class Variable:
    """How one column is declared and read in the DATA step."""

    name: str
    label: str
    numeric: bool
    length: int  # bytes; 8 for numbers
    format: str | None  # format name without the trailing period, e.g. "$sex_f"


@dataclass(frozen=True)
class ValueFormat:
    """One PROC FORMAT VALUE statement."""

    name: str  # with "$" for character formats
    labels: tuple[tuple[str, str], ...]  # (value as SAS literal, label)


@dataclass
class SasTable:
    """One table ready to write: the CSV frame and what the program declares."""

    name: str
    frame: pd.DataFrame
    variables: list[Variable]
    dataset: str = ""  # the SAS data set name (the table name where SAS accepts it)


def quote(text: str) -> str:
    """A SAS string literal in single quotes: no macro resolution of & and %, quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def format_names(infos: Mapping[str, ColumnInfo], plans: Mapping[str, CodePlan]) -> dict[str, str]:
    """Deterministic format name per coded variable; "$" for character formats.

    SAS format names have at most 32 characters (the "$" included), must not end in a digit (digits are
    read as a width) and are case-insensitive; the "_f" suffix keeps them off SAS's own format names.
    """
    taken = {BOOLEAN_FORMAT.upper()}
    names: dict[str, str] = {}
    for variable in sorted(infos):
        dollar = "" if plans[variable].numeric else "$"
        base = re.sub(r"[^A-Za-z0-9_]", "_", variable)
        base = base if re.match(r"[A-Za-z_]", base) else f"f_{base}"
        room = 32 - len(dollar) - 2
        candidate, counter = base[:room], 1
        while f"{dollar}{candidate}_f".upper() in taken:
            counter += 1
            suffix = f"_{counter}"
            candidate = base[: room - len(suffix)] + suffix
        name = f"{dollar}{candidate}_f"
        taken.add(name.upper())
        names[variable] = name
    return names


def dataset_names(tables: Iterable[str]) -> dict[str, str]:
    """SAS data set name per table: the table name itself where SAS accepts it, else a derived one.

    Table names such as ``month_2004-07`` are fine file names but not SAS names, so the CSV and the program
    keep the table name while the DATA step creates ``month_2004_07``: letters, digits and ``_`` only, at most
    32 characters, unique without regard to case (a ``_2``, ``_3`` ... suffix where two tables would meet).
    """
    taken: set[str] = set()
    names: dict[str, str] = {}
    for table in tables:
        if not SAS.problems(table) and table.upper() not in taken:
            name = table
        else:
            base = re.sub(r"[^A-Za-z0-9_]", "_", table)
            base = base if re.match(r"[A-Za-z_]", base) else f"_{base}"
            if SAS.problems(base[:32]):  # a reserved word such as _N_
                base = f"t_{base}"
            name, counter = base[:32], 1
            while name.upper() in taken:
                counter += 1
                suffix = f"_{counter}"
                name = base[: 32 - len(suffix)] + suffix
        taken.add(name.upper())
        names[table] = name
    return names


def value_formats(
    infos: Mapping[str, ColumnInfo], plans: Mapping[str, CodePlan], names: Mapping[str, str]
) -> dict[str, ValueFormat]:
    """VALUE statements keyed by format name, from the codebook's labels (in codebook order)."""
    formats = {BOOLEAN_FORMAT: ValueFormat(BOOLEAN_FORMAT, (("0", "no"), ("1", "yes")))}
    for variable, info in infos.items():
        labels = info.value_labels or {}
        if not labels:
            continue
        numeric = plans[variable].numeric
        pairs = tuple(
            (str(int(code)) if numeric else quote(str(code)), str(label)) for code, label in labels.items()
        )
        formats[names[variable]] = ValueFormat(names[variable], pairs)
    return formats


def _prepare(
    table: str,
    columns: list[Column],
    plans: Mapping[str, CodePlan],
    fmt_names: Mapping[str, str],
    issues: list[Issue],
    rows: int,
) -> SasTable:
    """The CSV frame and DATA-step declarations of one table; problems go to ``issues``.

    Lengths are measured on the data (longest value in UTF-8 bytes) because SAS pads every value of a
    character variable to its declared length: a generous fixed length would bloat every data set.
    """
    data: dict[str, object] = {}  # one frame at the end: grown column by column it cost 0.2 s an export
    variables: list[Variable] = []
    for col in columns:
        info = col.info
        label = clip(info.label, LABEL_CHARS)
        fmt = BOOLEAN_FORMAT if info.kind == "boolean" else None
        if info.coded:  # from the column's own values, grouped once (see recode_with_text)
            plan = plans[info.name]
            fmt = fmt_names[info.name] if info.value_labels else None
            values = pd.Series(recode(col.series, plan.numbers)) if plan.numeric else text_column(col.series)
        else:
            values = normalize(col, issues)
        data[col.name] = own_array(values)  # by position: the frame's index is a new RangeIndex
        if values.dtype != object and not isinstance(values.dtype, pd.CategoricalDtype):
            variables.append(Variable(col.name, label, True, 8, fmt))
            continue
        texts = distinct_codes(values)  # lengths and line breaks by distinct value, not per cell
        if any("\n" in v or "\r" in v for v in texts):
            issues.append(
                Issue(
                    "line-break",
                    "SAS cannot read text with line breaks from CSV",
                    table=table,
                    variable=col.name,
                )
            )
        length = max((len(v.encode("utf-8")) for v in texts), default=1) or 1
        if length > MAX_CHAR_LENGTH:
            issues.append(
                Issue(
                    "string-too-long",
                    f"{length} bytes; SAS allows {MAX_CHAR_LENGTH}",
                    table=table,
                    variable=col.name,
                )
            )
        variables.append(Variable(col.name, label, False, length, fmt))
    return SasTable(table, pd.DataFrame(data, index=pd.RangeIndex(rows), copy=False), variables)


def program(table: SasTable, formats: Mapping[str, ValueFormat]) -> str:
    """The text of ``load_<table>.sas``: defaults, PROC FORMAT, DATA step; every step ends with RUN;."""
    name, used = table.name, [v.format for v in table.variables if v.format]
    dataset = table.dataset or name
    lrecl = max(32_767, sum(2 * v.length + 3 if not v.numeric else 34 for v in table.variables))
    lines = [
        f"/* load_{name}.sas - generated by scrambler.",
        "   SCRAMBLED development data: no row describes a real person.",
        f"   Reads {name}{CSV_SUFFIX} (UTF-8, header row, empty field = missing) into &outlib..{dataset}.",
        "   Run in a UTF-8 session (sas -encoding utf8): character lengths are UTF-8 bytes.",
        "   Defaults: CSV folder = current folder, library = WORK. To change them, before running:",
        "     %let csvdir = /path/to/export; %let outlib = mylib;  */",
        "%global csvdir outlib;",
        "%macro scrambler_defaults;",
        "  %if %length(&csvdir) = 0 %then %let csvdir = .;",
        "  %if %length(&outlib) = 0 %then %let outlib = work;",
        "%mend scrambler_defaults;",
        "%scrambler_defaults;",
        "",
    ]
    if used:
        lines.append("proc format;")
        for fmt_name in dict.fromkeys(used):
            lines.append(f"  value {fmt_name}")
            lines += [f"    {value} = {quote(label)}" for value, label in formats[fmt_name].labels]
            lines.append("  ;")
        lines += ["run;", ""]
    lines += [
        f"data &outlib..{dataset} (label={quote(clip(f'Scrambled development data: {name}', LABEL_CHARS))});",
        f"  infile \"&csvdir/{name}{CSV_SUFFIX}\" dsd firstobs=2 encoding='utf-8' truncover lrecl={lrecl};",
        "  length",
        *(f"    {v.name} {8 if v.numeric else f'$ {v.length}'}" for v in table.variables),
        "  ;",
        "  input",
        *(f"    {v.name} :{NUMBER_INFORMAT if v.numeric else f'${v.length}.'}" for v in table.variables),
        "  ;",
        "  label",
        *(f"    {v.name} = {quote(v.label)}" for v in table.variables),
        "  ;",
    ]
    if used:
        lines += ["  format", *(f"    {v.name} {v.format}." for v in table.variables if v.format), "  ;"]
    lines += ["run;", ""]
    return "\n".join(lines)


def export(tables: Mapping[str, pd.DataFrame], codebook: Codebook, out_dir: Path) -> list[Path]:
    """Write ``<table>.csv`` and ``load_<table>.sas`` per table, after checking every name and value."""
    columns = resolve(tables, codebook)
    plans = plan_codes(columns)
    infos = {c.info.name: c.info for c in columns if c.info.coded}
    fmt_names = format_names(infos, plans)
    formats = value_formats(infos, plans, fmt_names)
    issues: list[Issue] = []
    datasets = dataset_names(tables)
    issues += check_names(SAS, ((c.table, c.name, c.name) for c in columns))
    prepared = [
        _prepare(name, [c for c in columns if c.table == name], plans, fmt_names, issues, len(frame))
        for name, frame in tables.items()
    ]
    if issues:
        raise DataError(issues)
    for ready in prepared:
        ready.dataset = datasets[ready.name]
    return write_each(prepared, lambda ready: [
        write_csv(ready.frame, out_dir / f"{ready.name}{CSV_SUFFIX}"),
        write_text_atomic(out_dir / f"load_{ready.name}.sas", program(ready, formats))])


def check(columns: Mapping[str, Sequence[str]], codebook: Codebook) -> list[Issue]:
    """Name problems of a SAS export of these columns (table -> column names), before any data exist. Data
    set names and format names are derived to fit (:func:`dataset_names`, :func:`format_names`); variable
    names are not, so the researcher's script and the CSV header agree."""
    return check_names(SAS, ((table, name, name) for table, names in columns.items() for name in names))
