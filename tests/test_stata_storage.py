"""Stata has no compression: each number is stored in the smallest type that holds its column (as Stata's
``compress``), decimals as doubles, nulls as missing, and the bytes stay the ones pandas writes."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler.formats import Codebook, ColumnInfo, export_tables
from scrambler.formats._dta import prepare, write_dta

#: Stata's storage types and the values each holds (Stata manual, [D] data types); above are missing codes
RANGES = {"int8": (-127, 100), "int16": (-32767, 32740), "int32": (-2147483647, 2147483620)}


def expected_type(values: list[float | None], decimal: bool = False) -> str:
    """The type Stata's documentation says fits: the first integer type whose range holds every value."""
    present = [v for v in values if v is not None]
    if decimal or any(v != int(v) for v in present):
        return "double"
    for name, (low, high) in RANGES.items():
        if all(low <= v <= high for v in present):
            return name
    return "double"


COLUMNS: dict[str, list[float | None]] = {
    "byte_top": [100, None, -127, 0],
    "past_byte": [101, 5, None, 1],
    "below_byte": [-128, 5, None, 1],
    "int_top": [32740, -32767, None, 7],
    "past_int": [32741, 0, 0, None],
    "past_long": [3e9, 1, None, 2],
    "halves": [1.5, 2, None, 3],
    "all_null": [None, None, None, None],
}


@pytest.mark.parametrize("dtype", ["Float64", "Int64"])  # Int64: the whole-number path (codes, years)
def test_each_number_takes_the_smallest_type_that_holds_it(tmp_path: Path, dtype: str) -> None:
    frame = pd.DataFrame({name: pd.array(values, dtype=dtype if name != "halves" else "Float64")
                          for name, values in COLUMNS.items()})
    frame["wage"] = [10.0, 20.0, None, 30.0]  # a decimal variable, whole here: stays a double
    frame["sex"] = pd.Categorical(["F", "M", None, "M"])  # numbered 1..2 with a text companion
    frame["employed"] = pd.array([True, None, False, True], dtype="boolean")
    infos = {name: ColumnInfo(name, name, "decimal" if name == "halves" else "integer") for name in COLUMNS}
    infos |= {"wage": ColumnInfo("wage", "Wage", "decimal"),
              "sex": ColumnInfo("sex", "Sex", "categorical", {"F": "Female", "M": "Male"}),
              "employed": ColumnInfo("employed", "Employed", "boolean")}
    [path] = export_tables({"t": frame}, Codebook(infos), "stata", tmp_path)
    data, meta = pyreadstat.read_dta(str(path))
    types = meta.readstat_variable_types
    for name, values in COLUMNS.items():
        assert types[name] == expected_type(values), name
        shown = [None if np.isnan(v) else v for v in data[name].astype(float)]
        assert shown == values, name
    assert types["wage"] == "double" and data["wage"].tolist()[:2] == [10.0, 20.0]
    assert types["sex"] == "int8" and types["sex_code"] == "string"
    assert types["employed"] == "int8" and np.isnan(data["employed"][1])
    assert data["employed"].tolist()[::2] == [1, 0]


whole = st.one_of(st.none(), st.integers(-2147483647, 2147483620), st.integers(-127, 100),
                  st.sampled_from([-32767, 32740, -128, 101, 32741]))


@settings(max_examples=60, deadline=None)
@given(st.lists(whole, min_size=0, max_size=12), st.sampled_from(["Int8", "Int16", "Int32"]))
def test_integer_columns_are_the_bytes_pandas_writes(values: list[int | None], dtype: str) -> None:
    """Any nullable integers in the types the export chooses: our writer and pandas' ``to_stata`` agree byte
    for byte (pandas writes a null of an Int8 column as 101, Stata's "." for a byte)."""
    low, high = RANGES[dtype.lower()]
    values = [v for v in values if v is None or low <= v <= high]
    frame = pd.DataFrame({"n": pd.array(values, dtype=dtype), "x": pd.array(values[::-1], dtype=dtype)})
    stamp = datetime(2026, 12, 5, 12, 0)
    labels = {"n": {1: "one", 2: "two"}}
    theirs, ours = io.BytesIO(), io.BytesIO()
    frame.to_stata(theirs, write_index=False, version=118, data_label="t", variable_labels={"n": "N"},
                   value_labels=labels, time_stamp=stamp)
    prepared = prepare(frame)
    assert prepared is not None
    write_dta(frame, prepared, ours, "t", {"n": "N"}, labels, stamp)
    assert ours.getvalue() == theirs.getvalue()


@pytest.mark.parametrize("dtype", ["Int8", "Int16", "Int32"])
def test_pyreadstat_reads_a_null_of_each_type_as_missing(dtype: str, tmp_path: Path) -> None:
    low, high = RANGES[dtype.lower()]
    frame = pd.DataFrame({"n": pd.array([low, None, high], dtype=dtype)})
    prepared = prepare(frame)
    assert prepared is not None
    with open(tmp_path / "t.dta", "wb") as handle:
        write_dta(frame, prepared, handle, "t", {}, {})
    data, meta = pyreadstat.read_dta(str(tmp_path / "t.dta"))
    assert meta.readstat_variable_types["n"] == dtype.lower()
    assert data["n"][0] == low and np.isnan(data["n"][1]) and data["n"][2] == high


def test_an_integer_column_beyond_its_type_goes_to_pandas_which_widens_it(tmp_path: Path) -> None:
    """A nullable Int8 column holding 101 (Stata's "." in a byte) is not written as a byte by our writer:
    pandas' writer takes the table and stores it as an int, so 101 reads back as 101."""
    frame = pd.DataFrame({"n": pd.array([101, None, -5], dtype="Int8")})
    assert prepare(frame) is None
    frame.to_stata(tmp_path / "t.dta", write_index=False, version=118)
    data, meta = pyreadstat.read_dta(str(tmp_path / "t.dta"))
    assert meta.readstat_variable_types["n"] == "int16"
    assert data["n"][0] == 101 and np.isnan(data["n"][1])


def test_a_value_hidden_under_a_null_does_not_widen_the_type(tmp_path: Path) -> None:
    """A nullable column's null cells still hold some number underneath (here 100,000): the type is chosen by
    the values shown, so 5 and 7 stay a byte and the null reads back as missing."""
    hidden = pd.arrays.IntegerArray(np.array([100_000, 5, 7]), np.array([True, False, False]))
    frame = pd.DataFrame({"n_jobs": hidden})
    codebook = Codebook({"n_jobs": ColumnInfo("n_jobs", "Jobs", "integer")})
    [path] = export_tables({"t": frame}, codebook, "stata", tmp_path)
    data, meta = pyreadstat.read_dta(str(path))
    assert meta.readstat_variable_types["n_jobs"] == expected_type([None, 5, 7]) == "int8"
    assert np.isnan(data["n_jobs"][0]) and data["n_jobs"].tolist()[1:] == [5, 7]
