"""``text_column`` (SAS's CSV) and ``recode_with_text`` (Stata, SPSS) group a column once and must give
exactly the texts the cell-by-cell definition gives (``text_array``), whatever the dtype; ``recode_grouped``
hands its grouping to the binary writers, whose ``encoded_texts`` must then store what they would store from
the companion column itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler.formats._texts import encoded_texts, recode_grouped, recode_with_text, text_array, text_column

cells = st.one_of(st.none(), st.sampled_from(["01", "1", "F", "é", ""]), st.integers(0, 3))


def as_column(values: list[object], kind: str) -> pd.Series:
    if kind == "category":
        return pd.Series(pd.Categorical(values))
    return pd.Series(values, dtype=object)


@settings(max_examples=150, deadline=None)
@given(st.lists(cells, max_size=20), st.sampled_from(["object", "category"]))
def test_grouped_texts_equal_the_cell_by_cell_texts(values: list[object], kind: str) -> None:
    column = as_column(values, kind)
    expected = list(text_array(column))
    made = text_column(column)
    assert [None if pd.isna(v) else v for v in made.astype(object)] == expected
    if isinstance(made.dtype, pd.CategoricalDtype):  # a category column only where the texts are distinct
        assert len(set(made.cat.categories)) == len(made.cat.categories)
    numbers = {text: i for i, text in enumerate(sorted({t for t in expected if t is not None}), start=1)}
    recoded, companion = recode_with_text(column, numbers)
    assert [None if pd.isna(v) else int(v) for v in recoded] == [None if t is None else numbers[t] for t in expected]
    assert list(companion) == ["" if t is None else t for t in expected]


def test_categories_that_read_as_one_text_stay_apart_as_objects() -> None:
    """The integer 1 and the text "1" are two categories but one text: not a category column then."""
    column = pd.Series(pd.Categorical([1, "1", None], categories=[1, "1"]))
    made = text_column(column)
    assert made.dtype == object and list(made) == ["1", "1", None]
    assert np.array_equal(recode_with_text(column, {"1": 7})[0].to_numpy(dtype=float, na_value=np.nan),
                          [7, 7, np.nan], equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["01", "F", "é", None]), max_size=15), st.booleans())
def test_categories_no_cell_holds_need_no_number(values: list[str | None], texts: bool) -> None:
    """A category column may declare categories none of its cells holds (a subset of a larger table): they
    need no number in the plan, and the numbers and companion are those of the cells alone. A held text
    without a number is refused by name."""
    column = pd.Series(pd.Categorical(values, categories=["01", "F", "é", "unused"]))
    held = sorted({v for v in values if v is not None})
    numbers = {text: i for i, text in enumerate(held, start=1)}
    recoded, companion = recode_with_text(column, numbers, texts=texts)
    assert [None if pd.isna(v) else int(v) for v in recoded] == [None if v is None else numbers[v] for v in values]
    assert (list(companion) == ["" if v is None else v for v in values]) if texts else companion is None
    if held:
        partial = {t: n for t, n in numbers.items() if t != held[0]}
        try:
            recode_with_text(column, partial)
        except KeyError as missing:
            assert missing.args == (held[0],)
        else:
            raise AssertionError("a held code without a number was recoded")


@settings(max_examples=150, deadline=None)
@given(st.lists(cells, max_size=20), st.sampled_from(["object", "category"]), st.booleans())
def test_a_companions_grouping_encodes_as_the_column_does(values: list[object], kind: str, unused: bool) -> None:
    """Each cell's bytes and the set of texts (which sets a strN's width) from the grouping equal those from
    hashing the companion again; a category no cell holds never widens the column."""
    column = as_column(values, kind)
    if unused and kind == "category":
        column = column.cat.add_categories(["a much longer unused code"])
    numbers = {t: i for i, t in enumerate(sorted({t for t in text_array(column) if t is not None}), start=1)}
    recoded, companion, grouping = recode_grouped(column, numbers)
    assert list(recoded.to_numpy(dtype=float, na_value=np.nan)[~recoded.isna()]) == \
        list(recode_with_text(column, numbers)[0].to_numpy(dtype=float, na_value=np.nan)[~recoded.isna()])
    plain = encoded_texts(pd.Series(companion, dtype=object))
    grouped = encoded_texts(pd.Series(companion, dtype=object), grouping)
    assert plain is not None and grouped is not None
    assert [grouped[1][i] for i in grouped[0]] == [plain[1][i] for i in plain[0]] == [t.encode() for t in companion]
    assert set(grouped[1]) == set(plain[1])
