"""Tests for scrambler.identifiers: national numbers (INSZ/NISS) and sequence numbers.

The expected values are computed independently of the code under test: by hand (docstrings) or with a
plain-Python oracle that restates the rule on one number at a time.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from scrambler.errors import DataError
from scrambler.identifiers import (
    RESERVED_SERIAL_MIN,
    fake_national_numbers,
    format_national_numbers,
    is_valid_national_number,
    national_number_check_digits,
    new_sequence_numbers,
)

# ---------------------------------------------------------------------------------------------------------
# Independent oracle: the rule restated in plain Python integers, one number at a time.


def oracle_check(base9: int, born_from_2000: bool) -> int:
    return 97 - ((2_000_000_000 if born_from_2000 else 0) + base9) % 97


def oracle_valid(value: object) -> bool:
    if not (isinstance(value, str) and len(value) == 11 and value.isascii() and value.isdigit()):
        return False
    base, check = int(value[:9]), int(value[9:])
    return check in (oracle_check(base, False), oracle_check(base, True))


def dates(*isos: str) -> np.ndarray:
    return np.array(isos, dtype="datetime64[D]")


def serials_of(numbers: np.ndarray) -> np.ndarray:
    return np.array([int(x[6:9]) for x in numbers])


# ---------------------------------------------------------------------------------------------------------
# Check digits on hand-computed examples.

HAND_EXAMPLES = [
    # (birth date, serial, expected number)
    ("1985-07-30", 33, "85073003328"),
    ("2001-02-03", 2, "01020300269"),
    ("1999-12-31", 997, "99123199742"),
    ("2000-01-01", 2, "00010100204"),
    ("1990-05-17", 57, "90051705797"),
]


def test_format_matches_hand_computed_examples() -> None:
    """Check digits worked out by long division, not by the code under test.

    * 1985-07-30, serial 033 (a man): N = 850730033. 97 x 8770412 = 850729964, remainder 69, 97 - 69 = 28
      -> 85073003328.
    * 2001-02-03, serial 002 (a woman), born 2000+: N = 2010203002. 97 x 20723742 = 2010202974,
      remainder 28, 97 - 28 = 69 -> 01020300269. (Without the "2" prefix: 10203002 = 97 x 105185 + 57, check
      40; so a missing prefix gives 01020300240 and fails this test.)
    * 1999-12-31, serial 997, the last pre-2000 day: N = 991231997. 97 x 10218886 = 991231942, remainder 55,
      check 42 -> 99123199742.
    * 2000-01-01, serial 002, the first 2000+ day: N = 2000101002. 97 x 20619597 = 2000100909, remainder 93,
      check 04 (zero-padded) -> 00010100204. (Without the prefix: 101002 = 97 x 1041 + 25, check 72.)
    * 1990-05-17, serial 057: N = 900517057 = 97 x 9283681 exactly, remainder 0, so the check is 97, never
      00 -> 90051705797.
    """
    birth = dates(*(d for d, _, _ in HAND_EXAMPLES))
    serial = np.array([s for _, s, _ in HAND_EXAMPLES])
    expected = [x for _, _, x in HAND_EXAMPLES]
    assert format_national_numbers(birth, serial).tolist() == expected


def test_check_digits_function_on_hand_examples() -> None:
    base = np.array([850730033, 10203002, 10203002, 900517057])
    from_2000 = np.array([False, True, False, False])
    assert national_number_check_digits(base, from_2000).tolist() == [28, 69, 40, 97]


def test_validator_accepts_hand_examples() -> None:
    assert is_valid_national_number([x for _, _, x in HAND_EXAMPLES]).all()


def test_validator_rejects_corruptions() -> None:
    """Corruptions of 85073003328 (N = 850730033, remainder 69; checks: pre-2000 28, 2000+ form 57 since
    2000000000 mod 97 = 68 and (69 + 68) mod 97 = 40, 97 - 40 = 57).

    * check digit 28 -> 29: neither 28 nor 57, invalid.
    * day digit 30 -> 31: N + 1000, and 1000 mod 97 = 30, so remainder (69 + 30) mod 97 = 2: checks 95 and
      (2 + 68 = 70) 27; 28 is neither, invalid.
    * check 57 is valid: it is the 2000+ form (a person born 2085-07-30), which the validator must accept.
    """
    values = ["85073003329", "85073103328", "85073003357", "85073003328"]
    assert is_valid_national_number(values).tolist() == [False, False, True, True]


def test_validator_rejects_malformed_values() -> None:
    # Check digits 00, 98 and 99 can never occur (the check is 97 - r with r in 0..96).
    values = np.array(
        [
            "85073003300",
            "85073003398",
            "85073003399",
            "8507300332",  # 10 digits
            "850730033280",  # 12 digits
            "85.07.30-033.28",  # formatted: must be stripped first
            "8507300332a",
            " 85073003328",
            "",
        ]
    )
    assert not is_valid_national_number(values).any()


def test_validator_handles_objects_bytes_integers_and_shape() -> None:
    objects = np.array(["85073003328", None, float("nan"), 85073003328, "85073003329"], dtype=object)
    assert is_valid_national_number(objects).tolist() == [True, False, False, False, False]
    assert is_valid_national_number(np.array([b"85073003328", b"85073003329"])).tolist() == [True, False]
    # A numeric read drops the leading zero of 2000-2009 births: 01020300269 -> 1020300269.
    assert is_valid_national_number(np.array([1020300269, 1020300268, -1, 10**11])).tolist() == [
        True,
        False,
        False,
        False,
    ]
    grid = np.array([["85073003328", "x"], ["85073003329", "01020300269"]])
    assert is_valid_national_number(grid).tolist() == [[True, False], [False, True]]
    assert is_valid_national_number([]).shape == (0,)


# ---------------------------------------------------------------------------------------------------------
# Generator.


def population(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    birth = np.datetime64("1930-01-01") + rng.integers(0, 90 * 365, n)
    return birth.astype("datetime64[D]"), rng.random(n) < 0.5


def test_generated_numbers_encode_birth_date_sex_and_century() -> None:
    birth, male = population(50_000, seed=1)
    numbers = fake_national_numbers(birth, male, np.random.default_rng(7))
    assert numbers.dtype.kind == "U" and numbers.shape == (50_000,)
    assert all(len(x) == 11 and x.isdigit() for x in numbers)
    yymmdd = [d.strftime("%y%m%d") for d in birth.astype(object)]
    assert [x[:6] for x in numbers] == yymmdd
    serial = serials_of(numbers)
    assert ((serial % 2 == 1) == male).all(), "men odd, women even"
    # Realistic density (about 1 person per birth date and sex here): all in the reserved range 500..997.
    assert serial.min() >= RESERVED_SERIAL_MIN and serial.max() <= 997
    born_2000 = birth >= np.datetime64("2000-01-01")
    assert born_2000.any() and (~born_2000).any()
    for x, b2000 in zip(numbers.tolist(), born_2000.tolist(), strict=True):
        assert int(x[9:]) == oracle_check(int(x[:9]), b2000)
    assert np.unique(numbers).size == numbers.size


def test_2000_births_use_the_2_prefix() -> None:
    """Same day and month, 1905 vs 2005: the first 9 digits may coincide, the check digits must differ by the
    prefix rule. With one person per date the serial is the same draw for the same rng."""
    a = fake_national_numbers(dates("1905-06-07"), np.array([True]), np.random.default_rng(3))[0]
    b = fake_national_numbers(dates("2005-06-07"), np.array([True]), np.random.default_rng(3))[0]
    assert a[:9] == b[:9]
    assert int(a[9:]) == oracle_check(int(a[:9]), False)
    assert int(b[9:]) == oracle_check(int(b[:9]), True)
    assert a[9:] != b[9:]


def test_full_serial_space_is_used_when_a_date_is_crowded() -> None:
    day = dates("1975-04-01")
    men = fake_national_numbers(np.repeat(day, 499), np.ones(499, bool), np.random.default_rng(0))
    women = fake_national_numbers(np.repeat(day, 498), np.zeros(498, bool), np.random.default_rng(0))
    assert sorted(serials_of(men)) == list(range(1, 998, 2))
    assert sorted(serials_of(women)) == list(range(2, 997, 2))
    assert is_valid_national_number(men).all() and is_valid_national_number(women).all()


def test_groups_up_to_249_stay_reserved_larger_groups_spill_below() -> None:
    day = np.repeat(dates("1980-02-29"), 249)
    serial = serials_of(fake_national_numbers(day, np.ones(249, bool), np.random.default_rng(5)))
    assert sorted(serial) == list(range(501, 998, 2))  # the whole reserved range, each serial once

    day = np.repeat(dates("1980-02-29"), 300)
    serial = serials_of(fake_national_numbers(day, np.zeros(300, bool), np.random.default_rng(5)))
    assert np.unique(serial).size == 300
    assert (serial >= 500).sum() == 249
    assert sorted(serial[serial < 500]) == list(range(498 - 2 * 50, 499, 2))  # 51 spilled: 398..498


def test_too_many_persons_on_one_date_raise() -> None:
    day = dates("1975-04-01")
    with pytest.raises(DataError, match="serials"):
        fake_national_numbers(np.repeat(day, 500), np.ones(500, bool), np.random.default_rng(0))
    with pytest.raises(DataError, match="serials"):
        fake_national_numbers(np.repeat(day, 499), np.zeros(499, bool), np.random.default_rng(0))


def test_1899_and_1999_compete_for_the_same_numbers() -> None:
    """Neither century form has the prefix, so 1899-03-04 and 1999-03-04 with one serial give one number;
    2099-03-04 uses the prefix, so it may share serials with 1999."""
    birth = np.repeat(dates("1899-03-04", "1999-03-04"), 200)
    numbers = fake_national_numbers(birth, np.ones(400, bool), np.random.default_rng(1))
    assert np.unique(numbers).size == 400

    birth = np.repeat(dates("1999-03-04", "2099-03-04"), 499)
    numbers = fake_national_numbers(birth, np.ones(998, bool), np.random.default_rng(1))
    assert np.unique(numbers).size == 998


def test_generator_is_deterministic_and_seed_dependent() -> None:
    birth, male = population(20_000, seed=2)
    a = fake_national_numbers(birth, male, np.random.default_rng(11))
    b = fake_national_numbers(birth, male, np.random.default_rng(11))
    c = fake_national_numbers(birth, male, np.random.default_rng(12))
    assert (a == b).all()
    assert (a != c).mean() > 0.9


def test_generator_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="missing"):
        fake_national_numbers(np.array(["1980-01-01", "NaT"], dtype="datetime64[D]"), np.ones(2, bool), rng)
    with pytest.raises(DataError, match="outside"):
        fake_national_numbers(dates("2100-01-01"), np.ones(1, bool), rng)
    with pytest.raises(TypeError, match="boolean"):
        fake_national_numbers(dates("1980-01-01"), np.array(["M"]), rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        fake_national_numbers(dates("1980-01-01"), np.ones(2, bool), rng)
    assert fake_national_numbers(dates(), np.ones(0, bool), rng).shape == (0,)


# ---------------------------------------------------------------------------------------------------------
# Cross-check with Faker.


def test_faker_nl_be_numbers_pass_our_validator() -> None:
    """faker/providers/ssn/nl_BE: yymmdd of a random date (1970 to now), serial 1..998, check
    97 - (N mod 97) with N + 2000000000 for years starting with "2" -- the same rule, both forms."""
    fake = Faker("nl_BE")
    fake.seed_instance(2024)
    numbers = [fake.ssn() for _ in range(2000)]
    assert is_valid_national_number(numbers).all()
    forms = {"2000+" if int(x[9:]) == oracle_check(int(x[:9]), True) else "pre-2000" for x in numbers}
    assert forms == {"2000+", "pre-2000"}, "Faker's sample must exercise both check forms"
    # And Faker numbers with a corrupted check are rejected (unless the corruption lands on the other form).
    bumped = [x[:9] + f"{(int(x[9:]) % 97) + 1:02d}" for x in numbers]
    assert is_valid_national_number(bumped).tolist() == [oracle_valid(x) for x in bumped]
    assert not all(oracle_valid(x) for x in bumped)


# ---------------------------------------------------------------------------------------------------------
# Properties.


@settings(max_examples=60, deadline=None)
@given(
    people=st.lists(
        st.tuples(st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31)), st.booleans()),
        min_size=1,
        max_size=300,
    ),
    crowd=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    new_check=st.integers(0, 99),
)
def test_generate_validate_round_trip(
    people: list[tuple[dt.date, bool]], crowd: int, seed: int, new_check: int
) -> None:
    # Add a crowd on the first birth date so that serial collisions and bumping are exercised.
    people = people + [people[0]] * crowd
    birth = np.array([d for d, _ in people], dtype="datetime64[D]")
    male = np.array([m for _, m in people])
    numbers = fake_national_numbers(birth, male, np.random.default_rng(seed))

    assert is_valid_national_number(numbers).all()
    assert np.unique(numbers).size == len(people)
    for x, (d, m) in zip(numbers.tolist(), people, strict=True):
        assert x[:6] == d.strftime("%y%m%d")
        serial = int(x[6:9])
        assert 1 <= serial <= 997 and serial % 2 == int(m)
        assert int(x[9:]) == oracle_check(int(x[:9]), d.year >= 2000)

    corrupted = numbers[0][:9] + f"{new_check:02d}"
    assert bool(is_valid_national_number([corrupted])[0]) == oracle_valid(corrupted)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11) | st.text(max_size=13))
def test_validator_agrees_with_oracle(value: str) -> None:
    assert bool(is_valid_national_number([value])[0]) == oracle_valid(value)


# ---------------------------------------------------------------------------------------------------------
# Sequence numbers.


def test_sequence_numbers_unique_in_range_and_random_order() -> None:
    seq = new_sequence_numbers(100_000, np.random.default_rng(0))
    assert seq.dtype == np.int64 and seq.shape == (100_000,)
    assert np.unique(seq).size == seq.size
    assert seq.min() >= 10**9 and seq.max() < 10**10
    assert not (np.diff(seq) > 0).all(), "order must be random, not sorted"


def test_sequence_numbers_avoid_exclude() -> None:
    # Dense case: the only way to draw 500 from 1..1000 without the even numbers is to take all odd ones.
    seq = new_sequence_numbers(500, np.random.default_rng(0), exclude=np.arange(2, 1001, 2), low=1, high=1001)
    assert sorted(seq.tolist()) == list(range(1, 1001, 2))

    # Default range: excluding what this seed would draw first forces different numbers.
    plain = new_sequence_numbers(10_000, np.random.default_rng(9))
    avoided = new_sequence_numbers(10_000, np.random.default_rng(9), exclude=plain[:5_000])
    assert not np.isin(avoided, plain[:5_000]).any()
    assert np.unique(avoided).size == avoided.size


def test_sequence_numbers_deterministic() -> None:
    exclude = np.arange(10**9, 10**9 + 1000)
    a = new_sequence_numbers(5_000, np.random.default_rng(4), exclude=exclude)
    b = new_sequence_numbers(5_000, np.random.default_rng(4), exclude=exclude)
    c = new_sequence_numbers(5_000, np.random.default_rng(5), exclude=exclude)
    assert (a == b).all()
    assert not (a == c).all()


def test_sequence_numbers_edge_cases() -> None:
    rng = np.random.default_rng(0)
    assert new_sequence_numbers(0, rng).shape == (0,)
    with pytest.raises(ValueError, match="cannot draw"):
        new_sequence_numbers(11, rng, exclude=np.arange(1, 11), low=1, high=21)
    assert sorted(new_sequence_numbers(10, rng, exclude=np.arange(1, 11), low=1, high=21)) == list(
        range(11, 21)
    )
    with pytest.raises(ValueError):
        new_sequence_numbers(-1, rng)
    with pytest.raises(TypeError):
        new_sequence_numbers(3, rng, exclude=np.array(["a"]))
