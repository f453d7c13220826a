"""Decoding tables into a panel and writing them back, on the paths that run tables side by side.

Below OVERLAP_PERSONS persons the next table is decoded on a second thread while one is merged, and a table
is written while the next is encoded; above it, one table at a time. Both paths must give the same panel,
the same issues in the same order and the same files: these tests run both on the same input and compare.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler import columns, datasets, decode
from scrambler.decode import tables_to_panel
from scrambler.population import generate_population
from scrambler.spec import DatasetSpec
from scrambler.spec.model import Codelist, Variable
from scrambler.tables import panel_to_tables


def _panel_arrays(panel) -> dict[str, np.ndarray]:
    out = {"ids": panel.ids, "present": panel.present}
    out.update({f"static:{k}": v for k, v in panel.static.items()})
    out.update({f"periodic:{k}": v for k, v in panel.periodic.items()})
    out.update({f"observed:{k}": v for k, v in (panel.observed or {}).items()})
    return out


def _spoilt(spec: DatasetSpec) -> dict[str, pa.Table]:
    """The mini's tables with one of each problem the merge and the decoders report: a code outside the code
    list, two blocks disagreeing about one person-period, a duplicated identifier, rows in a shuffled order."""
    panel = generate_population(spec, 300, 5)
    tables = panel_to_tables(panel)
    names = [name for name, _, _ in spec.table_names()]
    first, second = names[0], names[1]
    # an unknown code in the first categorical column of the first table
    t = tables[first]
    column = next(f.name for f in t.schema if pa.types.is_dictionary(f.type))
    values = t.column(column).cast(pa.string()).to_pylist()
    values[3] = "no-such-code"
    tables[first] = t.set_column(t.schema.get_field_index(column), column, pa.array(values, pa.string()))
    # the second table: its rows shuffled and its first row repeated (a duplicate identifier)
    t = tables[second]
    order = np.random.default_rng(1).permutation(t.num_rows)
    tables[second] = pa.concat_tables([t.take(order), t.slice(0, 1)])
    # a person-period both tables show, with different values in the two (the +1 block of the first table)
    shared = [f.name for f in tables[first].schema if f.name.endswith("_next")]
    if shared:
        col = shared[0]
        t = tables[first]
        flipped = pc.if_else(pc.equal(pc.index_in(t.column(spec.identifier), pa.array(
            [t.column(spec.identifier)[10].as_py()])), 0), None, t.column(col).cast(pa.string()))
        tables[first] = t.set_column(t.schema.get_field_index(col), col, flipped)
    return tables


def test_overlapped_decode_equals_one_table_at_a_time(mini_spec: DatasetSpec, monkeypatch) -> None:
    tables = _spoilt(mini_spec)
    overlapped = tables_to_panel(mini_spec, tables)
    monkeypatch.setattr(decode, "OVERLAP_PERSONS", 0)
    serial = tables_to_panel(mini_spec, tables)
    codes = {i.code for i in serial.issues}
    # the planted problems are found (else the comparison below would compare clean decodes only)
    assert {"unknown-code", "unique-error", "consistency-error", "required-null"} <= codes, codes
    assert [dataclasses.astuple(i) for i in overlapped.issues] == [dataclasses.astuple(i) for i in serial.issues]
    a, b = _panel_arrays(overlapped.panel), _panel_arrays(serial.panel)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_clean_tables_decode_back_to_the_panel_on_both_paths(mini_spec: DatasetSpec, monkeypatch) -> None:
    panel = generate_population(mini_spec, 400, 8)
    tables = panel_to_tables(panel)
    for overlap in (decode.OVERLAP_PERSONS, 0):
        monkeypatch.setattr(decode, "OVERLAP_PERSONS", overlap)
        decoded = tables_to_panel(mini_spec, tables)
        assert decoded.issues == []
        assert decoded.panel.n == len(np.unique(panel.ids[panel.present.any(axis=0)]))
        # the decoded panel shows exactly the tables it was decoded from
        again = panel_to_tables(decoded.panel)
        assert again.keys() == tables.keys()
        for name, table in tables.items():
            assert again[name].equals(table), name


def test_written_tables_are_the_same_on_both_paths(mini_spec: DatasetSpec, tmp_path: Path, monkeypatch) -> None:
    panel = generate_population(mini_spec, 250, 3)
    datasets.write_dataset(panel, tmp_path / "overlapped", {}, "test")
    monkeypatch.setattr(datasets, "OVERLAP_PERSONS", 0)
    datasets.write_dataset(panel, tmp_path / "serial", {}, "test")
    written = sorted(p.name for p in (tmp_path / "serial").glob("*.parquet"))
    assert written == sorted(f"{n}.parquet" for n, _, _ in mini_spec.table_names())
    assert written == sorted(p.name for p in (tmp_path / "overlapped").glob("*.parquet"))
    for name in written:
        assert pq.read_table(tmp_path / "overlapped" / name).equals(pq.read_table(tmp_path / "serial" / name)), name


def test_background_job_hands_back_its_result_or_its_error_and_never_holds_the_exit() -> None:
    """The guard's index is built on a daemon thread while the draw runs (scramble/background.py)."""
    from scrambler.scramble.background import Background

    done = Background(lambda: sum(range(10)))
    assert done.result() == 45
    failed = Background(lambda: 1 // 0)
    with pytest.raises(ZeroDivisionError):
        failed.result()
    assert failed._thread.daemon  # an interrupted run does not wait for it at exit


def _arrow_codes(arr: pa.Array, codes: list[str]) -> np.ndarray:
    """The codes by Arrow's own kernels (what decode did before reading the bitmaps itself)."""
    if pa.types.is_boolean(arr.type):
        return pc.fill_null(pc.cast(arr, pa.int16()), -1).to_numpy(zero_copy_only=False)
    texts = arr.cast(pa.string()).to_pylist() if pa.types.is_dictionary(arr.type) else arr.to_pylist()
    lookup = {c: i for i, c in enumerate(codes)}
    return np.array([-1 if t is None else lookup[t] for t in texts], dtype=np.int16)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.booleans()), max_size=70), cut=st.integers(0, 69),
       start=st.integers(0, 9), stop=st.integers(0, 70), order=st.permutations(list(range(4))))
def test_codes_read_from_the_bitmaps_are_arrows(values, cut: int, start: int, stop: int, order) -> None:
    """Booleans and dictionary indices are read from Arrow's buffers by numpy: the codes Arrow's kernels give,
    over chunks, slices (bit offsets not on a byte) and nulls, whatever bits lie under a null; dictionaries
    in the code list's order take the shortcut, others the map."""
    flag = Variable(name="flag", type="boolean", source="test")
    cut = min(cut, len(values))
    chunked = pa.chunked_array([pa.array(values[:cut], pa.bool_()), pa.array(values[cut:], pa.bool_())])
    sliced = chunked.slice(start, max(stop - start, 0))
    for column in (chunked, sliced):
        issues: list = []
        got = columns.decode_categorical(flag, column, "t", "flag", np.arange(len(column)), issues)
        np.testing.assert_array_equal(got, _arrow_codes(column.combine_chunks(), ["false", "true"]))
        assert issues == []
    # set bits under every null (Arrow leaves them unspecified): still null
    valid = np.array([v is not None for v in values], dtype=bool)
    ones = pa.py_buffer(np.packbits(np.ones(len(values) + 8, dtype=np.uint8), bitorder="little").tobytes())
    dirty = pa.Array.from_buffers(pa.bool_(), len(values), [pa.py_buffer(
        np.packbits(valid, bitorder="little").tobytes()), ones], null_count=int((~valid).sum()))
    expected = np.where(valid, 1, -1)
    np.testing.assert_array_equal(columns.decode_categorical(flag, dirty, "t", "flag", np.arange(len(values)), []),
                                  expected)
    codes = ["a", "b", "c", "d"]
    kind = Variable(name="kind", type="categorical", source="test",
                    codelist=Codelist(name="kinds", codes=tuple(codes), labels={}))
    picks = [None if v is None else codes[(i + int(v)) % 4] for i, v in enumerate(values)]
    for dictionary in (codes, [codes[i] for i in order]):  # in the list's order, and shuffled
        position = {c: i for i, c in enumerate(dictionary)}
        raw = np.array([99 if p is None else position[p] for p in picks], dtype=np.int16)  # 99 under nulls
        mask = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
        indices = pa.Array.from_buffers(pa.int16(), len(picks), [mask, pa.py_buffer(raw.tobytes())],
                                        null_count=int((~valid).sum()))
        arr = pa.DictionaryArray.from_arrays(indices, pa.array(dictionary)).slice(min(start, len(picks)))
        got = columns.decode_categorical(kind, arr, "t", "kind", np.arange(len(arr)), [])
        np.testing.assert_array_equal(got, _arrow_codes(arr, codes))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-2**62, 2**62)), max_size=40),
       arrow_type=st.sampled_from([pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint32(), pa.float32(),
                                   pa.float64()]),
       start=st.integers(0, 5))
def test_numbers_read_from_the_buffers_are_arrows_cast(values, arrow_type: pa.DataType, start: int) -> None:
    """Integer and floating columns are read from their buffers by numpy: the float64 values Arrow's cast
    gives, NaN for null; integers beyond 2**53 take Arrow's cast, which refuses to round them (a type error,
    as before)."""
    if pa.types.is_integer(arrow_type):
        info = np.iinfo(arrow_type.to_pandas_dtype())
        values = [None if v is None else min(max(v, info.min), info.max) for v in values]
    else:
        values = [None if v is None else float(v) / 7 for v in values]
    arr = pa.array(values, arrow_type).slice(min(start, len(values)))
    count = Variable(name="count", type="decimal", source="test")
    try:
        expected = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        with pytest.raises(pa.ArrowInvalid):
            columns.decode_numeric(count, arr, "t", "count", np.arange(len(arr)), [])
        return
    got = columns.decode_numeric(count, arr, "t", "count", np.arange(len(arr)), [])
    np.testing.assert_array_equal(got, expected)  # NaN where Arrow has NaN
    assert got.dtype == np.float64


@pytest.mark.parametrize("start", [0, 3])
def test_time_texts_decode_with_nulls_and_unreadable_texts(start: int) -> None:
    """Year-month texts, as a dictionary or plain strings, sliced: each distinct text parsed once, nulls NaN,
    unreadable texts flagged where they are."""
    texts = ["2021-03", None, "2020-12", "not a month", "2021-03", None, "2022-01"]
    expected = [2021 * 12 + 2, np.nan, 2020 * 12 + 11, np.nan, 2021 * 12 + 2, np.nan, 2022 * 12]
    plain = pa.array(texts).slice(start)
    for arr in (plain, pc.dictionary_encode(plain)):
        values, bad = columns.decode_time(arr, "month")
        np.testing.assert_array_equal(values[~bad], np.array(expected[start:])[~bad])
        assert list(bad) == [t == "not a month" for t in texts[start:]]


def test_columns_decoded_one_ahead_come_in_order_and_errors_reach_the_merge() -> None:
    """Above OVERLAP_PERSONS the next column is decoded on a thread (decode._one_ahead): the merge gets the
    columns in their order, an error raised while decoding is raised in the merge after the columns before
    it, and a merge that stops leaves the decoding thread to end instead of decoding the rest."""
    import threading
    import time

    def source(n: int, fail_at: int | None = None, seen: list[int] | None = None):
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"column {i} cannot be decoded")
            if seen is not None:
                seen.append(i)
            yield i

    got = []
    for item in decode._one_ahead(source(50)):
        time.sleep(0.001)  # a slow merge: the decoder runs ahead, never out of order
        got.append(item)
    assert got == list(range(50))

    got = []
    with pytest.raises(ValueError, match="column 7"):
        for item in decode._one_ahead(source(20, fail_at=7)):
            got.append(item)
    assert got == list(range(7))

    seen: list[int] = []
    ahead = decode._one_ahead(source(1000, seen=seen))
    assert next(ahead) == 0
    ahead.close()  # the merge stopped
    deadline = time.monotonic() + 5
    while any(t.name == "scrambler-decode" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "scrambler-decode" for t in threading.enumerate())
    assert len(seen) <= 4  # at most the few columns already on their way


def test_time_values_are_held_exactly_in_float32(mini_spec: DatasetSpec) -> None:
    """Time values (whole numbers of their grain) are float32 in a panel, half of float64's bytes: every value
    of every grain for the years 1-9999 is held exactly, and a written panel reads back as the same values,
    which its tables show as the same period texts."""
    from scrambler.panel import TIME_TYPES, empty_values, value_dtype
    from scrambler.spec.time import format_period, parse_period

    for grain, per_year in (("year", 1), ("quarter", 4), ("month", 12)):
        whole = np.arange(1 * per_year, 10_000 * per_year, dtype=np.int64)
        assert np.array_equal(whole.astype(np.float32).astype(np.int64), whole), grain
    since = mini_spec.variables["since"]
    assert since.type in TIME_TYPES and value_dtype(since) == np.float32
    assert empty_values(since, (2, 3)).dtype == np.float32
    numbers = [v for v in mini_spec.data_variables if v.is_numeric and v.type not in TIME_TYPES]
    assert numbers and all(empty_values(v, (1,)).dtype == np.float64 for v in numbers)
    panel = generate_population(mini_spec, 400, 3)
    assert panel.periodic["since"].dtype == np.float32
    tables = panel_to_tables(panel)
    back = tables_to_panel(mini_spec, tables).panel
    assert back.periodic["since"].dtype == np.float32
    # each person's values where the tables show them, read back: the same numbers as the generator's
    where = {int(i): row for row, i in enumerate(panel.ids)}
    rows = np.array([where[int(i)] for i in back.ids])
    seen = ~np.isnan(back.periodic["since"])
    assert seen.any() and np.array_equal(back.periodic["since"][seen], panel.periodic["since"][:, rows][seen])
    shown = {text for table in tables.values() for column in table.column_names if column.startswith("since")
             for text in table.column(column).to_pylist() if text is not None}
    held = set(back.periodic["since"][seen].astype(np.int64).tolist())
    assert shown and {parse_period(text, "month") for text in shown} == held
    assert all(format_period(parse_period(text, "month"), "month") == text for text in shown)


def test_integers_of_a_small_declared_range_are_held_exactly_in_float32(tmp_path: Path) -> None:
    """An integer variable whose declared minimum and maximum lie within +-2**24 is float32 in a panel (every
    whole number there is exact); without a declared range, or with a wider one, it stays float64. A value
    read beyond +-2**24 is refused with the variable and the row named, not rounded."""
    from scrambler.panel import FLOAT32_EXACT, empty_values, small_whole, value_dtype

    months = Variable(name="months", type="integer", source="x",
                      constraints=dataclasses.replace(Variable(name="m", type="integer", source="x").constraints,
                                                      minimum=0, maximum=588))
    wide = dataclasses.replace(months, constraints=dataclasses.replace(months.constraints, maximum=2**31))
    open_ended = dataclasses.replace(months, constraints=dataclasses.replace(months.constraints, maximum=None))
    assert small_whole(months) and value_dtype(months) == np.float32 and empty_values(months, (2,)).dtype == np.float32
    assert value_dtype(wide) == np.float64 and value_dtype(open_ended) == np.float64
    assert value_dtype(dataclasses.replace(months, type="decimal")) == np.float64  # 0.1 is not exact in float32
    whole = np.arange(-FLOAT32_EXACT, FLOAT32_EXACT + 1, 997, dtype=np.int64)
    assert np.array_equal(whole.astype(np.float32).astype(np.int64), whole)
    issues: list = []
    column = pa.chunked_array([pa.array([0, 588, None, FLOAT32_EXACT + 1, -(FLOAT32_EXACT + 3)], pa.int64())])
    values = columns.decode_numeric(months, column, "t", "months", np.arange(10, 15), issues)
    assert np.array_equal(values[:2], [0, 588]) and np.isnan(values[2])
    assert [i.code for i in issues] == ["type-error"] and issues[0].variable == "months"
    assert "2 value(s) beyond" in issues[0].message and "[0, 588]" in issues[0].message
    assert "13" in str(issues[0].row) and "14" in str(issues[0].row)  # the persons' rows, by identifier
    clean: list = []
    columns.decode_numeric(months, pa.chunked_array([pa.array([0, 588, None], pa.int64())]), "t", "months",
                           np.arange(3), clean)
    assert clean == []
