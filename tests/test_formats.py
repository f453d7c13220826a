"""Tests of the export layer (scrambler/formats): round trips, labels, names, SAS programs, atomic writes."""

from __future__ import annotations

import csv as stdcsv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrambler.errors import DataError, ScramblerError, SpecError
from scrambler.formats import FORMATS, Codebook, ColumnInfo, export_tables
from scrambler.formats._atomic import atomic_path
from scrambler.formats._common import Column, clip

CODEBOOK = Codebook(
    {
        "person_id": ColumnInfo("person_id", "Person identifier", "identifier"),
        "province": ColumnInfo(
            "province",
            "Province of residence",
            "categorical",
            {"10000": "Antwerp", "20001": "Flemish Brabant"},
        ),
        "status": ColumnInfo(
            "status",
            "Labour market status",
            "categorical",
            {"111": "Employee - single job", "112": "Employee"},
        ),
        "sex": ColumnInfo("sex", "Sex", "categorical", {"F": "Female", "M": "Male"}),
        "region": ColumnInfo("region", "Region", "categorical", {"01": "Flanders", "02": "Wallonia"}),
        "age_group": ColumnInfo(
            "age_group", "Age group", "ordinal", {"15-19": "15 to 19 years", "20-24": "20 to 24 years"}
        ),
        "employed": ColumnInfo("employed", "Employed", "boolean"),
        "n_jobs": ColumnInfo("n_jobs", "Number of jobs", "integer"),
        "wage": ColumnInfo("wage", "Worker's daily wage (EUR)", "decimal"),
        "year_month": ColumnInfo("year_month", "Year and month", "string"),
    }
)


def people() -> pd.DataFrame:
    """One column per kind, each with a null; numeric codes, zero-padded codes, letters, ranges."""
    return pd.DataFrame(
        {
            "person_id": pd.array([1, 2, 3, 4], dtype="Int64"),
            "province": pd.Categorical(["10000", None, "20001", "10000"]),
            "province_next": ["20001", "10000", None, "10000"],
            "status": pd.Categorical(["111", "112", None, "111"]),
            "sex": pd.Categorical(["F", "M", None, "M"]),
            "region": ["01", None, "02", "02"],
            "age_group": pd.Categorical(
                ["15-19", "20-24", None, "15-19"], categories=["15-19", "20-24"], ordered=True
            ),
            "employed": pd.array([True, None, False, True], dtype="boolean"),
            "n_jobs": pd.array([1, None, 3, 0], dtype="Int64"),
            "wage": [101.25, np.nan, 1 / 3, -2.5e-7],
            "year_month": ["2021-07", None, "2021-08", 'é, "quoted"'],
        },
        index=pd.Index([10, 11, 12, 13]),  # not 0..n-1: exporters must not align on the index
    )


def export(fmt: str, tmp_path: Path, tables: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    return export_tables(tables or {"t1": people()}, CODEBOOK, fmt, tmp_path / fmt)


def issue_codes(exc: pytest.ExceptionInfo[ScramblerError]) -> set[tuple[str, str | None, str | None]]:
    return {(i.code, i.table, i.variable) for i in exc.value.issues}


# --- codebook and dispatch ------------------------------------------------------------------------------


def test_lookup_exact_then_one_known_suffix() -> None:
    book = Codebook(
        {
            "status": ColumnInfo("status", "Status", "categorical"),
            "status_prev": ColumnInfo("status_prev", "Previous status (own variable)", "categorical"),
        }
    )
    assert book.lookup("status_next").name == "status"  # type: ignore[union-attr]
    assert book.lookup("status_prev").label == "Previous status (own variable)"  # type: ignore[union-attr]
    assert book.lookup("status_later") is None
    assert book.lookup("_next") is None
    assert book.lookup("status_t1", suffixes=("_t1",)).name == "status"  # type: ignore[union-attr]


def test_unknown_kind_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown-kind"):
        ColumnInfo("birth", "Birth date", "date")


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScramblerError) as exc:
        export("xlsx", tmp_path)
    assert exc.value.issues[0].code == "unknown-format"


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_column_fails_before_writing(fmt: str, tmp_path: Path) -> None:
    tables = {"good": people(), "bad": people().assign(mystery=1)}
    with pytest.raises(DataError) as exc:
        export(fmt, tmp_path, tables)
    assert ("unknown-column", "bad", "mystery") in issue_codes(exc)
    assert list((tmp_path / fmt).iterdir()) == []  # not even the good table


# --- parquet --------------------------------------------------------------------------------------------


def test_parquet_round_trip_is_identical(tmp_path: Path) -> None:
    frame = people()
    [path] = export("parquet", tmp_path, {"t1": frame})
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_exact=True)
    assert back["age_group"].cat.ordered


def test_parquet_categories_always_come_back_as_text_categories(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "status": pd.Categorical([111, None]),  # int categories
            "sex": pd.Categorical([None, None]),  # all null: float64 categories, none used
            "region": pd.Categorical(["02", None], categories=["02", "01"], ordered=True),
        }
    )
    [path] = export_tables({"t": frame}, CODEBOOK, "parquet", tmp_path)
    back = pd.read_parquet(path)
    assert all(isinstance(back[c].dtype, pd.CategoricalDtype) for c in frame.columns)
    assert back["status"].tolist()[0] == "111" and back["status"].isna().tolist() == [False, True]
    assert back["sex"].isna().all()
    assert back["region"].cat.categories.tolist() == ["02", "01"] and back["region"].cat.ordered


def test_parquet_strings_dictionary_encoded_and_labelled(tmp_path: Path) -> None:
    [path] = export("parquet", tmp_path)
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    for column in ("province", "province_next", "region", "year_month"):
        encodings = meta.row_group(0).column(names.index(column)).encodings
        assert any("DICTIONARY" in e for e in encodings), (column, encodings)
    field = pq.read_schema(path).field("province_next")
    assert field.metadata[b"label"] == b"Province of residence"
    assert b'"10000": "Antwerp"' in field.metadata[b"value_labels"]


# --- csv ------------------------------------------------------------------------------------------------


def test_csv_text_keeps_codes_and_empty_means_null(tmp_path: Path) -> None:
    table, _ = export("csv", tmp_path)
    raw = pd.read_csv(table, dtype=str, keep_default_na=False, encoding="utf-8")
    assert list(raw.columns) == list(people().columns)
    assert raw["region"].tolist() == ["01", "", "02", "02"]  # leading zero kept
    assert raw["employed"].tolist() == ["true", "", "false", "true"]
    assert raw["year_month"].tolist() == ["2021-07", "", "2021-08", 'é, "quoted"']


def test_csv_round_trip_values(tmp_path: Path) -> None:
    table, _ = export("csv", tmp_path)
    back = pd.read_csv(table, dtype={"province": str, "province_next": str, "status": str, "region": str})
    src = people()
    assert back["wage"].tolist()[0::2] == src["wage"].tolist()[0::2]  # exact doubles, incl. 1/3
    assert back["wage"].isna().tolist() == src["wage"].isna().tolist()
    assert back["n_jobs"].astype("Int64").tolist() == src["n_jobs"].tolist()
    assert back["employed"].astype("boolean").tolist() == src["employed"].tolist()
    assert back["province_next"].tolist()[:2] == ["20001", "10000"] and pd.isna(back["province_next"][2])


def test_csv_quotes_only_tables_that_need_it(tmp_path: Path) -> None:
    """Arrow quotes every text field or none: a table without a comma, quote or line break gets no quote at
    all (as pandas wrote it), and one with a line break in a category (a dictionary column) is quoted and
    reads back cell for cell."""
    plain = people().assign(year_month=["2021-07", None, "2021-08", "2021-09"])
    broken = people().assign(sex=pd.Categorical(["F", "M\nX", None, "M"]))
    book = Codebook({**CODEBOOK.columns, "sex": ColumnInfo("sex", "Sex", "categorical", {"F": "Female"})})
    paths = export_tables({"plain": plain, "broken": broken}, book, "csv", tmp_path / "csv")
    texts = {p.stem: p.read_text(encoding="utf-8") for p in paths}
    assert '"' not in texts["plain"]
    with open(tmp_path / "csv" / "broken.csv", encoding="utf-8", newline="") as handle:
        rows = list(stdcsv.reader(handle))
    assert [r[rows[0].index("sex")] for r in rows[1:]] == ["F", "M\nX", "", "M"]
    assert [r[rows[0].index("year_month")] for r in rows[1:]] == ["2021-07", "", "2021-08", 'é, "quoted"']


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet='ab,"\r\né') | st.none(), min_size=1, max_size=12), st.integers(0, 11),
       st.sampled_from(["string", "large_string", "dictionary"]), st.text(alphabet='x,"\n', max_size=3))
def test_csv_quoting_looks_at_every_written_value_and_nothing_else(values: list, start: int, kind: str,
                                                                   hidden: str) -> None:
    """The quoting check reads text bytes in bulk; it must see exactly the values written: from a sliced
    array, in a dictionary, and never the bytes a null's slot may keep (``hidden``, placed under a null)."""
    from scrambler.formats.csv import _quoting

    start = min(start, len(values) - 1)
    written = values[start:]
    texts = [v if v is not None else hidden for v in values]  # a null's slot keeps ``hidden``'s bytes
    offsets = np.cumsum([0] + [len(t.encode()) for t in texts]).astype(np.int32)
    valid = np.packbits([v is not None for v in values], bitorder="little")
    array = pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets.tobytes()),
                                        pa.py_buffer("".join(texts).encode()), pa.py_buffer(valid.tobytes()))
    array = array.slice(start)
    if kind == "large_string":
        array = array.cast(pa.large_string())
    elif kind == "dictionary":
        array = array.dictionary_encode()
    expected = "needed" if any(re.search(r'[",\r\n]', v) for v in written if v is not None) else "none"
    assert _quoting(pa.table({"text": array, "number": pa.array(range(len(written)))})) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=1, max_size=30),
       st.lists(st.booleans() | st.none(), min_size=1, max_size=30))
def test_csv_decimals_and_booleans_read_back_exactly(tmp_path: Path, wages: list[float], flags: list) -> None:
    """Whatever the doubles (subnormal, huge, whole), the text reads back to the same double; booleans,
    whatever dtype they arrive in, are true/false/empty."""
    n = min(len(wages), len(flags))
    frame = pd.DataFrame({"wage": wages[:n], "employed": pd.Series(flags[:n], dtype=object)})
    (path, _) = export_tables({"t": frame}, CODEBOOK, "csv", tmp_path / "hyp")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(stdcsv.reader(handle))[1:]
    back = [float(r[0]) if r[0] else None for r in rows]
    assert back == [None if np.isnan(w) else w for w in wages[:n]]
    assert [r[1] for r in rows] == [{True: "true", False: "false", None: ""}[f] for f in flags[:n]]


def test_csv_codebook_lists_every_column_and_code(tmp_path: Path) -> None:
    _, book = export("csv", tmp_path)
    assert book.name == "codebook.csv"
    with open(book, encoding="utf-8", newline="") as handle:
        rows = list(stdcsv.reader(handle))
    assert rows[0] == ["column", "label", "code", "code_label"]
    assert ["province_next", "Province of residence", "20001", "Flemish Brabant"] in rows
    assert ["region", "Region", "01", "Flanders"] in rows
    assert ["employed", "Employed", "false", "no"] in rows
    assert ["wage", "Worker's daily wage (EUR)", "", ""] in rows
    assert {r[0] for r in rows[1:]} == set(people().columns)


def test_csv_refuses_table_named_codebook(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="codebook.csv"):
        export("csv", tmp_path, {"codebook": people()})


# --- stata and spss -------------------------------------------------------------------------------------

READERS = {"stata": pyreadstat.read_dta, "spss": pyreadstat.read_sav}


def reread(
    fmt: str, tmp_path: Path, tables: dict[str, pd.DataFrame] | None = None
) -> tuple[pd.DataFrame, Any]:
    paths = export(fmt, tmp_path, tables)
    return READERS[fmt](str(paths[0]))


def decoded(values: pd.Series, labels: dict[float, str]) -> list[str | None]:
    return [None if pd.isna(v) else labels[v] for v in values]


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_labelled_round_trip_values(fmt: str, tmp_path: Path) -> None:
    data, meta = reread(fmt, tmp_path)
    src = people()
    # integer codes are stored as their own number
    assert data["province"].tolist()[0::2] == [10000, 20001] and pd.isna(data["province"][1])
    assert data["status"].tolist()[:2] == [111, 112]
    # other codes: numbered 1..K in codebook order, exact code string alongside ("" for null)
    assert data["sex"].tolist()[:2] == [1, 2] and pd.isna(data["sex"][2])
    assert data["sex_code"].tolist() == ["F", "M", "", "M"]
    assert data["region_code"].tolist() == ["01", "", "02", "02"]
    assert data["age_group"].tolist()[:2] == [1, 2]
    assert data["employed"].tolist()[0::2] == [1, 0] and pd.isna(data["employed"][1])
    assert data["n_jobs"].tolist()[0::2] == [1, 3] and pd.isna(data["n_jobs"][1])
    assert data["wage"].tolist()[0::2] == src["wage"].tolist()[0::2]  # doubles are exact
    assert data["year_month"].tolist() == ["2021-07", "", "2021-08", 'é, "quoted"']
    assert list(data.columns).index("sex_code") == list(data.columns).index("sex") + 1


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_labelled_files_carry_variable_and_value_labels(fmt: str, tmp_path: Path) -> None:
    data, meta = reread(fmt, tmp_path)
    labels = meta.column_names_to_labels
    assert labels["province_next"] == "Province of residence"
    assert labels["sex_code"] == "Sex (code)"
    assert labels["wage"] == "Worker's daily wage (EUR)"
    values = meta.variable_value_labels
    assert values["status"] == {111: "Employee - single job", 112: "Employee"}
    assert values["province_next"][10000] == "Antwerp"
    assert values["employed"] == {0: "no", 1: "yes"}
    assert values["age_group"] == {1: "15-19 15 to 19 years", 2: "20-24 20 to 24 years"}
    # the documented mapping inverts: label text starts with the code kept in <name>_code
    for name in ("sex", "region", "age_group"):
        texts = decoded(data[name], values[name])
        assert [t.split(" ", 1)[0] if t else "" for t in texts] == data[f"{name}_code"].tolist()
    assert "n_jobs" not in values and "year_month" not in values


def test_spss_measurement_levels_and_whole_number_formats(tmp_path: Path) -> None:
    _, meta = reread("spss", tmp_path)
    assert meta.variable_measure["age_group"] == "ordinal"
    assert meta.variable_measure["sex"] == "nominal"
    assert meta.variable_measure["wage"] == "scale"
    assert meta.original_variable_types["province"] == "F5.0"


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_numbering_shared_across_tables_and_extra_codes_appended(fmt: str, tmp_path: Path) -> None:
    only_m = people().assign(sex=pd.Categorical(["M", "M", "X", None]))
    paths = export(fmt, tmp_path, {"a": people(), "b": only_m})
    (a, _), (b, meta_b) = (READERS[fmt](str(p)) for p in paths)
    assert a["sex"][1] == b["sex"][0] == 2  # "M" is 2 in both tables although "F" is absent from b
    assert b["sex"][2] == 3 and meta_b.variable_value_labels["sex"][3] == "X"  # unknown code: after the list


def test_labels_cut_to_package_limits(tmp_path: Path) -> None:
    long = "Très long libellé " * 20
    book = Codebook({"c": ColumnInfo("c", long, "categorical", {"A": long})})
    tables = {"t": pd.DataFrame({"c": ["A", None]})}
    stata = export_tables(tables, book, "stata", tmp_path / "dta")[0]
    spss = export_tables(tables, book, "spss", tmp_path / "sav")[0]
    _, m = pyreadstat.read_dta(str(stata))
    cut = str(m.column_names_to_labels["c"])
    assert len(cut) == 80 and cut.endswith("...") and long.startswith(cut[:-3])
    _, m = pyreadstat.read_sav(str(spss))
    assert len(m.variable_value_labels["c"][1].encode("utf-8")) <= 120
    assert m.variable_value_labels["c"][1].startswith("A Très")
    assert clip("éééé", max_bytes=6) == "é..." and clip("abc", max_chars=3) == "abc"


STATA_EDGES = {
    "people": people(),
    "no rows": people().iloc[:0],
    "empty texts and unicode": pd.DataFrame({"year_month": ["", "é, ü", None], "wage": [np.nan, 1e300, -0.0]}),
}


@pytest.mark.parametrize("case", list(STATA_EDGES))
def test_stata_writer_writes_the_bytes_pandas_writes(case: str, tmp_path: Path) -> None:
    """The whole-column .dta writer against pandas' ``to_stata`` on the same recoded table, same time stamp:
    the files must be equal byte for byte (header, map, labels, data, value labels)."""
    import io
    from datetime import datetime

    from scrambler.formats import stata
    from scrambler.formats._dta import prepare, write_dta
    from scrambler.formats._labelled import FILE_LABEL, build
    from scrambler.formats._names import STATA
    from scrambler.formats._texts import plain_text

    stamp = datetime(2026, 12, 4, 23, 59)
    [table] = build({"t1": STATA_EDGES[case]}, CODEBOOK, STATA, stata.VARIABLE_LABEL, stata.VALUE_LABEL)
    frame = stata.frame_for_stata(table)
    label = stata.FILE_LABEL_LIMIT(FILE_LABEL.format(table="t1"))
    labels = {k: dict(v) for k, v in table.value_labels.items()}
    theirs, ours = io.BytesIO(), io.BytesIO()
    plain_text(frame).to_stata(theirs, write_index=False, version=118, data_label=label,
                   variable_labels=dict(table.column_labels), value_labels=labels, time_stamp=stamp)
    prepared = prepare(frame)
    assert prepared is not None
    write_dta(frame, prepared, ours, label, dict(table.column_labels), labels, stamp)
    assert ours.getvalue() == theirs.getvalue()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 30), st.lists(st.floats(allow_infinity=False, max_value=8e307, min_value=-8e307)
                                    | st.integers(-200, 300).map(float), min_size=1, max_size=5),
       st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
                min_size=1, max_size=4),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40))
def test_stata_writer_equals_pandas_on_any_table(rows: int, numbers: list[float], texts: list[str], label: str,
                                                 value_label: str) -> None:
    """Any doubles (NaN, huge, -0.0), any text (multi-byte, empty) and labels: the bytes pandas writes."""
    import io
    from datetime import datetime

    from scrambler.formats._dta import prepare, write_dta

    rng = np.random.default_rng(rows)
    frame = pd.DataFrame({"num": rng.choice(numbers, rows), "txt": rng.choice(np.array(texts, dtype=object), rows),
                          "num_two": rng.choice(numbers, rows)})
    stamp = datetime(2026, 1, 2, 3, 4)
    labels = {"num_two": {1: value_label, -3: "minus three"}}
    theirs, ours = io.BytesIO(), io.BytesIO()
    frame.to_stata(theirs, write_index=False, version=118, data_label=label, variable_labels={"txt": label},
                   value_labels=labels, time_stamp=stamp)
    prepared = prepare(frame)
    assert prepared is not None
    write_dta(frame, prepared, ours, label, {"txt": label}, labels, stamp)
    assert ours.getvalue() == theirs.getvalue()


def _sav_both(frame: pd.DataFrame, tmp_path: Path, **meta: Any) -> tuple[bytes, bytes]:
    """The .sav pyreadstat writes and the one the whole-column writer writes, creation time masked."""
    import io

    from scrambler.formats._sav import prepare, write_sav

    meta = {"file_label": "lab", "column_labels": {}, "note": "a note", "value_labels": {}, "measures": {},
            "formats": {}} | meta
    path = tmp_path / "theirs.sav"
    pyreadstat.write_sav(frame, str(path), file_label=meta["file_label"], column_labels=meta["column_labels"],
                         note=meta["note"], variable_value_labels=meta["value_labels"],
                         variable_measure=meta["measures"], variable_format=meta["formats"], row_compress=True)
    prepared = prepare(frame, meta["formats"], meta["note"])
    assert prepared is not None
    ours = io.BytesIO()
    write_sav(prepared, len(frame), ours, meta["file_label"], meta["column_labels"], meta["note"],
              meta["value_labels"], meta["measures"])
    stamp = slice(92, 109)  # "dd Mon yy" and "hh:mm:ss" in the header
    theirs_bytes, ours_bytes = bytearray(path.read_bytes()), bytearray(ours.getvalue())
    theirs_bytes[stamp] = ours_bytes[stamp] = b"x" * 17
    return bytes(theirs_bytes), bytes(ours_bytes)


SAV_EDGES: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {
    "labels, measures, formats": (
        pd.DataFrame({"a": [1.5, np.nan, 3.0], "longer_name_here": ["x", "y" * 12, ""], "c": [1.0, 2.0, np.nan]}),
        {"column_labels": {"a": "A label", "c": "Très " * 60}, "value_labels": {"c": {2.0: "b" * 120, 1.0: "é"}},
         "measures": {"a": "scale", "longer_name_here": "nominal", "c": "ordinal"}, "formats": {"c": "F3.0"}}),
    "bytecode bounds": (pd.DataFrame({"n": [-101.0, -100.0, -99.0, -0.0, 0.5, 151.0, 152.0, 1e300, np.nan, 7.0]}),
                        {}),
    "a row of exactly eight slots": (pd.DataFrame({f"x{i}": [float(i), np.nan] for i in range(8)}), {"note": ""}),
    "no rows": (pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=object)}), {}),
    "short names that collide": (pd.DataFrame({f"province_{i:02d}": [1.0] for i in range(40)}), {}),
    "the widest short string": (pd.DataFrame({"s": ["é", "", "x" * 255]}), {}),
}


@pytest.mark.parametrize("case", list(SAV_EDGES))
def test_sav_writer_writes_the_bytes_pyreadstat_writes(case: str, tmp_path: Path) -> None:
    frame, meta = SAV_EDGES[case]
    theirs, ours = _sav_both(frame, tmp_path, **meta)
    assert ours == theirs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 40), st.lists(st.floats(allow_infinity=False) | st.integers(-120, 260).map(float),
                                    min_size=1, max_size=5),
       st.lists(st.text(max_size=40), min_size=1, max_size=4), st.integers(1, 7),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=150),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
               max_size=150))
def test_sav_writer_equals_pyreadstat_on_any_table(tmp_path: Path, rows: int, numbers: list[float],
                                                     texts: list[str], chunk: int, label: str, value_label: str) -> None:
    """Any doubles (the bytecode's small whole numbers, NaN, huge), any text (multi-byte, empty) and labels,
    over rows split into chunks of any size: the same bytes as pyreadstat. (A NUL goes to pyreadstat.)"""
    from scrambler.formats import _sav

    texts = [t.replace("\x00", "") for t in texts]
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame({"num": rng.choice(numbers, rows), "txt": rng.choice(np.array(texts, dtype=object), rows),
                          "num_two": rng.choice(numbers, rows)})
    original = _sav.CHUNK_ROWS
    _sav.CHUNK_ROWS = chunk
    try:
        theirs, ours = _sav_both(frame, tmp_path, value_labels={"num": {1.0: value_label, -3.5: "one"}},
                                 column_labels={"txt": label * 2})
    finally:
        _sav.CHUNK_ROWS = original
    assert ours == theirs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.none() | st.sampled_from([-101, -100, -99, 0, 127, 151, 152]) | st.integers(-130, 300)
                | st.integers(-2**40, 2**40), min_size=0, max_size=30),
       st.sampled_from(["Int8", "Int16", "Int32", "Int64", "boolean"]), st.integers(1, 7))
def test_sav_writer_codes_nullable_integers_as_pyreadstat_codes_their_doubles(
        tmp_path: Path, values: list[int | None], dtype: str, chunk: int) -> None:
    """Codes and booleans reach the writer as nullable integers, not doubles: each is coded as the double it
    stands for (small whole numbers in the bytecode, others raw, nulls system missing), so the file is the
    one pyreadstat writes from the same column as doubles."""
    from scrambler.formats import _sav

    info = np.iinfo(dtype.lower()) if dtype != "boolean" else None
    kept = [v if v is None or info is None or info.min <= v <= info.max else None for v in values]
    if dtype == "boolean":
        kept = [None if v is None else v % 2 == 1 for v in values]
    column = pd.array(kept, dtype=dtype)
    doubles = pd.DataFrame({"n": column.astype("float64")})  # what pyreadstat takes: NaN for null
    original = _sav.CHUNK_ROWS
    _sav.CHUNK_ROWS = chunk
    try:
        theirs, _ = _sav_both(doubles, tmp_path)
        _, ours = _sav_both(pd.DataFrame({"n": column}), tmp_path)
    finally:
        _sav.CHUNK_ROWS = original
    assert ours == theirs


def test_stata_text_beyond_a_fixed_width_string_goes_to_pandas_as_a_strl(tmp_path: Path) -> None:
    frame = people().assign(year_month=["x" * 3000, None, "a", "b"])
    [path] = export("stata", tmp_path, {"t1": frame})
    back, meta = pyreadstat.read_dta(str(path))
    assert back["year_month"].tolist() == ["x" * 3000, "", "a", "b"]
    assert back["wage"].tolist()[0] == 101.25 and meta.number_rows == 4


@pytest.mark.parametrize("fmt", ["spss", "zsav"])
def test_spss_text_beyond_a_short_string_goes_to_pyreadstat_as_text(fmt: str, tmp_path: Path) -> None:
    """Text over 255 bytes is left to pyreadstat, which takes text as Python strings: the columns the whole-
    column writer reads as categories (a string, the ``_code`` companions) come back as their texts."""
    frame = people().assign(year_month=["x" * 300, None, "a", "b"])
    [path] = export(fmt, tmp_path, {"t1": frame})
    back, meta = pyreadstat.read_sav(str(path))
    assert back["year_month"].tolist() == ["x" * 300, "", "a", "b"]
    assert back["sex_code"].tolist() == ["F", "M", "", "M"]
    assert back["sex"].tolist()[:2] == [1.0, 2.0] and meta.number_rows == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_leaves_the_callers_frames_as_they_were(fmt: str, tmp_path: Path) -> None:
    """The labelled formats read booleans and codes from the frames' own arrays, without copies: nothing may
    write into them (a boolean's values seen as bytes, its null mask, a category's codes)."""
    frame = people()
    before = frame.copy(deep=True)
    export(fmt, tmp_path, {"t1": frame})
    pd.testing.assert_frame_equal(frame, before, check_exact=True)
    assert frame["employed"].array._mask.tolist() == before["employed"].array._mask.tolist()


def test_stata_name_too_long_is_reported_with_table_and_column(tmp_path: Path) -> None:
    long_name = "number_of_jobs_held_at_the_reference_date"  # 41 characters
    book = Codebook({**CODEBOOK.columns, long_name: ColumnInfo(long_name, "Jobs", "integer")})
    tables = {"t1": people().assign(**{long_name: 1})}
    with pytest.raises(DataError) as exc:
        export_tables(tables, book, "stata", tmp_path / "dta")
    [issue] = exc.value.issues
    assert (issue.code, issue.table, issue.variable) == ("name-too-long", "t1", long_name)
    assert "41 characters" in issue.message and "at most 32" in issue.message
    assert not list((tmp_path / "dta").glob("*"))
    # SPSS allows 64 bytes: the same table exports
    assert export_tables(tables, book, "spss", tmp_path / "sav")[0].exists()


def test_generated_companion_names_are_checked_too(tmp_path: Path) -> None:
    name = "sex_of_the_person_at_the_start"  # 30 characters: fine, but sex_..._code has 35
    book = Codebook({**CODEBOOK.columns, name: ColumnInfo(name, "Sex", "categorical", {"F": "Female"})})
    with pytest.raises(DataError) as exc:
        export_tables({"t1": people().assign(**{name: "F"})}, book, "stata", tmp_path)
    assert ("name-too-long", "t1", name) in issue_codes(exc)
    assert "generated from column" in str(exc.value)


def test_all_name_problems_reported_at_once(tmp_path: Path) -> None:
    book = Codebook(
        {
            "in": ColumnInfo("in", "Reserved", "integer"),
            "2nd": ColumnInfo("2nd", "Digit first", "integer"),
            "sex": CODEBOOK.columns["sex"],
            "sex_code": ColumnInfo("sex_code", "Clashes with the companion", "string"),
        }
    )
    frame = pd.DataFrame({"in": [1], "2nd": [2], "sex": ["F"], "sex_code": ["x"]})
    with pytest.raises(DataError) as exc:
        export_tables({"t1": frame}, book, "stata", tmp_path)
    codes = {c for c, _, _ in issue_codes(exc)}
    assert codes == {"reserved-name", "invalid-name", "duplicate-name"}


@pytest.mark.parametrize("fmt", ["stata", "spss", "sas"])
def test_numbers_that_cannot_be_stored_exactly_are_refused(fmt: str, tmp_path: Path) -> None:
    frame = people().assign(n_jobs=pd.array([2**60, None, 1, 1], dtype="Int64"), wage=[np.inf, 1.0, 1.0, 1.0])
    with pytest.raises(DataError) as exc:
        export(fmt, tmp_path, {"t1": frame})
    assert {("integer-too-large", "t1", "n_jobs"), ("non-finite", "t1", "wage")} <= issue_codes(exc)


@pytest.mark.parametrize("fmt", ["stata", "spss", "zsav"])
def test_a_bad_name_and_a_bad_value_are_listed_together(fmt: str, tmp_path: Path) -> None:
    """Names are checked before any table is recoded; when one is refused, the values of every table are
    still checked, so the one error lists both kinds of problem, and nothing is written."""
    long_name = "x" * 70  # beyond Stata's 32 characters and SPSS's 64 bytes
    book = Codebook({**CODEBOOK.columns, long_name: ColumnInfo(long_name, "Long", "integer")})
    bad = people().assign(**{long_name: 1}, n_jobs=pd.array([2**60, None, 1, 1], dtype="Int64"))
    with pytest.raises(DataError) as exc:
        export_tables({"t1": people().assign(**{long_name: 1}), "t2": bad}, book, fmt, tmp_path / fmt)
    found = issue_codes(exc)
    assert ("integer-too-large", "t2", "n_jobs") in found
    assert {code for code, table, variable in found if variable == long_name} == {"name-too-long"}
    assert not list((tmp_path / fmt).iterdir())


@pytest.mark.parametrize("fmt", ["stata", "spss", "zsav"])
def test_a_bad_value_in_a_later_table_publishes_no_file(fmt: str, tmp_path: Path) -> None:
    """The labelled formats recode a table while another is written, so a table may be written before a
    later one shows a bad value: nothing is published then (no new file, no temporary one left), a file
    already under a name stays as it was, and every table's problems are listed."""
    suffix = {"stata": ".dta", "spss": ".sav", "zsav": ".zsav"}[fmt]
    out = tmp_path / fmt
    out.mkdir()
    (out / f"t1{suffix}").write_bytes(b"an older export")
    bad = people().assign(n_jobs=pd.array([2**60, None, 1, 1], dtype="Int64"))
    tables = {"t1": people(), "t2": people(), "t3": bad, "t4": people(), "t5": bad.assign(wage=np.inf)}
    with pytest.raises(DataError) as exc:
        export_tables(tables, CODEBOOK, fmt, out)
    assert issue_codes(exc) == {("integer-too-large", "t3", "n_jobs"), ("integer-too-large", "t5", "n_jobs"),
                                ("non-finite", "t5", "wage")}
    assert sorted(p.name for p in out.iterdir()) == [f"t1{suffix}"]
    assert (out / f"t1{suffix}").read_bytes() == b"an older export"


# --- sas ------------------------------------------------------------------------------------------------


def sas_statements(text: str) -> list[str]:
    """Split SAS code into statements, honouring quotes and /* */ comments; fails on unbalanced ones."""
    statements, current, i = [], [], 0
    while i < len(text):
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            assert end >= 0, "unclosed comment"
            i = end + 2
        elif text[i] in "'\"":
            quote, j = text[i], i + 1
            while True:
                k = text.find(quote, j)
                assert k >= 0, f"unbalanced quote at {i}"
                if text[k + 1 : k + 2] == quote:
                    j = k + 2
                    continue
                break
            current.append(text[i : k + 1])
            i = k + 1
        elif text[i] == ";":
            statements.append(" ".join("".join(current).split()))
            current, i = [], i + 1
        else:
            current.append(text[i])
            i += 1
    assert not "".join(current).strip(), "text after the last semicolon"
    return statements


def sas_steps(statements: list[str]) -> list[list[str]]:
    """Group statements into PROC/DATA steps; assert every step ends with RUN before the next starts."""
    steps: list[list[str]] = []
    open_step: list[str] | None = None
    for statement in statements:
        word = statement.split(" ", 1)[0].lower()
        if word in ("proc", "data"):
            assert open_step is None, f"step not closed by RUN before: {statement}"
            open_step = [statement]
        elif word == "run":
            assert open_step is not None, "RUN without a step"
            steps.append(open_step)
            open_step = None
        elif open_step is not None:
            open_step.append(statement)
    assert open_step is None, "last step has no RUN"
    return steps


def test_sas_program_is_structurally_sound(tmp_path: Path) -> None:
    paths = export("sas", tmp_path)
    assert [p.name for p in paths] == ["t1.csv", "load_t1.sas"]
    statements = sas_statements(paths[1].read_text(encoding="utf-8"))
    fmt_step, data_step = sas_steps(statements)
    assert fmt_step[0] == "proc format"
    assert data_step[0].startswith("data &outlib..t1")
    assert sum(s.startswith("%macro") for s in statements) == sum(s.startswith("%mend") for s in statements)
    infile = next(s for s in data_step if s.startswith("infile"))
    for option in ("dsd", "firstobs=2", "encoding='utf-8'", '"&csvdir/t1.csv"'):
        assert option in infile


def test_sas_program_declares_every_column_and_format_value(tmp_path: Path) -> None:
    _, program = export("sas", tmp_path)
    statements = sas_statements(program.read_text(encoding="utf-8"))
    _, data_step = sas_steps(statements)
    by_word = {s.split(" ", 1)[0]: s for s in data_step}
    for column in people().columns:
        for word in ("length", "input", "label"):
            assert re.search(rf"\b{column}\b", by_word[word]), (word, column)
    assert "sex $ 1" in by_word["length"] and "province 8" in by_word["length"]
    assert "region :$2." in by_word["input"] and "wage :best32." in by_word["input"]
    assert "wage = 'Worker''s daily wage (EUR)'" in by_word["label"]
    assert "province_next province_f." in by_word["format"] and "sex $sex_f." in by_word["format"]
    assert "year_month $ 12" in by_word["length"]  # UTF-8 bytes of 'é, "quoted"', not characters
    values = [s for s in statements if s.startswith("value ")]
    assert "value province_f 10000 = 'Antwerp' 20001 = 'Flemish Brabant'" in values
    assert "value status_f 111 = 'Employee - single job' 112 = 'Employee'" in values
    assert "value $region_f '01' = 'Flanders' '02' = 'Wallonia'" in values
    assert "value $age_group_f '15-19' = '15 to 19 years' '20-24' = '20 to 24 years'" in values
    assert "value yesno_f 0 = 'no' 1 = 'yes'" in values


def test_sas_csv_matches_program(tmp_path: Path) -> None:
    data, _ = export("sas", tmp_path)
    raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    assert raw["employed"].tolist() == ["1", "", "0", "1"]  # numbers for SAS, formatted by yesno_f
    assert raw["region"].tolist() == ["01", "", "02", "02"]


def test_sas_format_names_are_legal_and_distinct(tmp_path: Path) -> None:
    a, b = "a" * 30 + "_x", "a" * 30 + "_y"  # same first 30 characters
    book = Codebook({n: ColumnInfo(n, n, "categorical", {"K": "k"}) for n in (a, b)})
    _, program = export_tables({"t": pd.DataFrame({a: ["K"], b: ["K"]})}, book, "sas", tmp_path)
    names = re.findall(r"^\s*value (\S+)", program.read_text(encoding="utf-8"), flags=re.M)
    assert len(set(names)) == 2
    for name in names:
        assert len(name) <= 32 and not name[-1].isdigit() and name.startswith("$")


def test_sas_refuses_line_breaks_in_text(tmp_path: Path) -> None:
    frame = people().assign(year_month=["a\nb", None, None, None])
    with pytest.raises(DataError) as exc:
        export("sas", tmp_path, {"t1": frame})
    assert ("line-break", "t1", "year_month") in issue_codes(exc)


# --- atomic writes --------------------------------------------------------------------------------------


def test_crash_while_writing_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [path] = export("stata", tmp_path)
    before = path.read_bytes()

    def crash(frame: pd.DataFrame, prepared: object, handle: Any, *args: object) -> None:
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("scrambler.formats.stata.write_dta", crash)  # the Stata writer
    with pytest.raises(OSError, match="disk full"):
        export("stata", tmp_path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_atomic_path_publishes_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".x.txt.")
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError
    assert target.read_text() == "done" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("series", [
    pd.Series(["01", "2", None, "01"]),
    pd.Series(pd.Categorical(["a", None, "b", "a"])),
    pd.Series(pd.Categorical([1.0, 2.0, None])),
    pd.Series([1.0, np.nan, 111.0]),
    pd.Series([True, 1, None, 1.0], dtype=object),  # equal to a hash, not as text
    pd.Series(pd.array([1, None, 3], dtype="Int64")),
    pd.Series([[1], [2]], dtype=object),  # unhashable cells
    pd.Series(["x", pd.NA, np.nan], dtype=object),
    pd.Series([], dtype=object),
])
def test_text_values_by_distinct_value_equal_cell_by_cell(series: pd.Series) -> None:
    from scrambler.formats._texts import _text_cells, code_text, distinct_codes, text_values

    expected = [None if (not isinstance(v, list) and pd.isna(v)) else code_text(v) for v in series.astype(object)]
    assert text_values(series) == expected == _text_cells(series)
    assert distinct_codes(series) == {v for v in expected if v is not None}


@pytest.mark.parametrize("series", [
    pd.Series([True, False, True]),
    pd.Series([True, None, False, np.nan], dtype=object),
    pd.Series([True, 1, None, 0], dtype=object),
    pd.Series(pd.array([True, None], dtype="boolean")),
    pd.Series(pd.array([None, None, False], dtype="boolean")),
    pd.Series(pd.array([], dtype="boolean")),
    pd.Series([1.0, 0.0, np.nan]),
])
def test_booleans_normalised_directly_equal_the_nullable_route(series: pd.Series) -> None:
    from scrambler.formats._common import normalize

    issues: list = []
    column = Column("t", "employed", CODEBOOK.columns["employed"], series)
    try:
        expected = series.astype("boolean").astype("Int64").tolist()
    except TypeError:  # refused by the nullable type: refused here too, as a bad-dtype issue
        normalize(column, issues)
        assert [i.code for i in issues] == ["bad-dtype"]
        return
    assert normalize(column, issues).tolist() == expected
    assert issues == []


def test_frames_read_booleans_as_nullable_booleans_and_the_rest_as_arrow_does() -> None:
    import pyarrow as pa

    from scrambler.formats import frames

    table = pa.table({"flag": pa.array([True, None, False]), "n": pa.array([1, None, 3]),
                      "code": pa.array(["a", None, "b"])})
    frame = frames({"t": table})["t"]
    assert isinstance(frame["flag"].dtype, pd.BooleanDtype)
    assert frame["flag"].tolist() == [True, pd.NA, False]
    pd.testing.assert_frame_equal(frame.drop(columns="flag"), table.to_pandas().drop(columns="flag"))


def test_name_rules_are_the_formats_with_a_name_check() -> None:
    """check_export imports a format's module only for the formats NAME_RULES lists (so a Parquet-only run
    imports no pandas): the list must be exactly the format modules that define ``check``."""
    import importlib

    from scrambler import formats

    with_check = {f for f in FORMATS if hasattr(importlib.import_module(f"scrambler.formats.{f}"), "check")}
    assert with_check == set(formats.NAME_RULES)


@pytest.mark.parametrize("values", [
    [1.0, np.nan, -3.0, 0.0],
    [],
    [np.nan, np.nan],
    [2.0**53, -(2.0**53)],
])
def test_whole_floats_normalise_to_the_same_integers_as_cell_by_cell(values: list[float]) -> None:
    """Integer columns read as float64 (a null made them so) become Int64 by whole arrays: the same numbers
    and nulls as converting each cell."""
    from scrambler.formats._common import normalize

    issues: list = []
    series = pd.Series(values, dtype="float64")
    out = normalize(Column("t", "n_jobs", CODEBOOK.columns["n_jobs"], series), issues)
    assert str(out.dtype) == "Int64" and issues == []
    assert out.tolist() == [pd.NA if np.isnan(v) else int(v) for v in values]


@pytest.mark.parametrize("values", [[1.5, 2.0], [np.inf, 1.0], [-np.inf], [2.0**63], [-(2.0**64), np.nan]])
def test_floats_that_are_no_64_bit_integers_are_refused_by_name(values: list[float]) -> None:
    """A fraction, an infinity or a value beyond int64 is an issue naming the column, never a wrapped number."""
    from scrambler.formats._common import normalize

    issues: list = []
    normalize(Column("t", "n_jobs", CODEBOOK.columns["n_jobs"], pd.Series(values)), issues)
    assert [(i.code, i.variable) for i in issues] == [("bad-dtype", "n_jobs")]


def test_distinct_codes_leave_out_categories_no_cell_holds() -> None:
    from scrambler.formats._texts import distinct_codes

    series = pd.Series(pd.Categorical(["a", None, "a"], categories=["z", "a", "b"]))
    assert distinct_codes(series) == {"a"}
