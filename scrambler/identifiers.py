"""Identifiers for scrambled datasets: fictitious national numbers and meaningless sequence numbers.

Two kinds of identifier appear in KSZ/BCSS data:

* The **national number** (INSZ / NISS / rijksregisternummer), 11 digits ``yymmdd sss cc``:

  - ``yymmdd`` the birth date (two-digit year),
  - ``sss`` a serial number, odd for men and even for women, in ``001..997``,
  - ``cc`` check digits ``97 - (N mod 97)``, where ``N`` is the 9-digit number ``yymmddsss``; for
    births from 2000 on, ``N`` is prefixed with a ``2`` (``N + 2_000_000_000``) so that the century is
    recoverable from the check digits. The check is therefore always ``01..97``.

  A scrambled dataset never contains an input national number. When a development dataset needs one (to
  test code that parses or validates it), :func:`fake_national_numbers` makes numbers that pass every
  format check but are assigned at random, carrying only the synthetic birth date and sex.

* The **sequence number** (a meaningless person key). The input's key is replaced by fresh random numbers
  from :func:`new_sequence_numbers`, drawn disjoint from the input keys so that no input identifier can
  reach an output, even by coincidence.

Fictitious serial range
-----------------------
There is, as far as we know, no officially reserved range of test national numbers that is also
format-valid. :func:`fake_national_numbers` therefore draws serials from a documented *reserved* range,
:data:`RESERVED_SERIAL_MIN` ``..`` :data:`SERIAL_MAX` (``500..997``: men ``501, 503, .., 997``, women
``500, 502, .., 996``), the upper half of the serial space, which is the sparsest used if serials are
handed out in ascending order per birth date. It only spills below ``500`` for a (birth date, sex) group of
more than 249 persons, which a realistic population (about 100 persons of each sex per birth date for 7.5
million persons) does not reach. This makes a coincidence with a real person's number rarer; it cannot
rule it out, since any format-valid number might be assigned. The guarantee that matters is elsewhere: the
generated number is not derived from any real person's number.

Everything is vectorised with numpy: there is no Python loop over persons (7.5 million take seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from scrambler.errors import DataError, Issue

__all__ = [
    "RESERVED_SERIAL_MIN",
    "SEQUENCE_HIGH",
    "SEQUENCE_LOW",
    "SERIAL_MAX",
    "SERIAL_MIN",
    "fake_national_numbers",
    "format_national_numbers",
    "is_valid_national_number",
    "national_number_check_digits",
    "new_sequence_numbers",
]

SERIAL_MIN = 1
"""Lowest serial (men: 001; women start at 002)."""
SERIAL_MAX = 997
"""Highest serial generated (men: 997; women stop at 996 so that 001-997 holds for both sexes)."""
RESERVED_SERIAL_MIN = 500
"""Start of the reserved fictitious range 500..997 (see the module docstring)."""

PREFIX_2000 = 2_000_000_000
"""Added to the 9-digit number before the modulo for births from 2000 on."""

SEQUENCE_LOW = 10**9
"""Sequence numbers are drawn from ``[SEQUENCE_LOW, SEQUENCE_HIGH)``: exactly 10 digits, so they can never be
mistaken for an 11-digit national number, and the range (9e9 values) makes clashes with the excluded input
keys rare enough that resolving them costs nothing."""
SEQUENCE_HIGH = 10**10

# Slots: the serials of one sex, numbered so that slots 0..R-1 are the reserved range and slots R.. spill
# downwards below it. R is the same for both sexes (249); the full capacity differs by one.
_RESERVED_SLOTS = (SERIAL_MAX - RESERVED_SERIAL_MIN) // 2 + 1  # 249: men 501..997, women 500..996
_CAPACITY_MALE = (SERIAL_MAX - SERIAL_MIN) // 2 + 1  # 499 odd serials 001..997
_CAPACITY_FEMALE = (SERIAL_MAX - 1 - (SERIAL_MIN + 1)) // 2 + 1  # 498 even serials 002..996

_MIN_YEAR = 1800
_MAX_YEAR = 2099  # the "2" prefix only distinguishes 19xx from 20xx; 21xx would reuse 20xx's numbers


def national_number_check_digits(
    base9: npt.ArrayLike, born_from_2000: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """Check digits (1..97) of 9-digit numbers ``yymmddsss``.

    The century is not in ``yymmdd``; the rule encodes it in the check digits by prefixing a ``2`` for births
    from 2000 on, so the caller must say which form applies.
    """
    base = np.asarray(base9, dtype=np.int64)
    key = base + np.where(np.asarray(born_from_2000, dtype=bool), PREFIX_2000, 0)
    return (97 - key % 97).astype(np.int64)


def _date_parts(
    birth_dates: npt.NDArray[np.datetime64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Year, month and day of ``datetime64[D]`` values.

    Integer civil-from-days arithmetic (H. Hinnant's algorithm, proleptic Gregorian like numpy): about 3x
    faster than ``astype("datetime64[Y]")`` / ``[M]``, which matters at 7.5 million rows.
    """
    z = birth_dates.astype(np.int64) + 719_468  # days since 0000-03-01
    era = z // 146_097
    doe = z - era * 146_097  # day of the 400-year era, 0..146096
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365  # year of era, 0..399
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # day of the year starting 1 March, 0..365
    mp = (5 * doy + 2) // 153  # month starting March, 0..11
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _as_dates(
    birth_dates: npt.ArrayLike,
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Validate birth dates (every value a date in a century the number can encode); return them with their
    year, month and day."""
    dates = np.asarray(birth_dates)
    if dates.ndim != 1:
        raise ValueError(f"birth_dates must be one-dimensional, got shape {dates.shape}")
    if dates.dtype.kind != "M":
        raise TypeError(f"birth_dates must be datetime64, got dtype {dates.dtype}")
    dates = dates.astype("datetime64[D]")
    missing = np.isnat(dates)
    if missing.any():
        raise DataError(
            [
                Issue(
                    code="national-number-missing-birth-date",
                    message=f"{int(missing.sum())} birth date(s) are missing; a national number encodes one",
                    row=str(int(np.flatnonzero(missing)[0])),
                )
            ]
        )
    year, month, day = _date_parts(dates)
    bad = (year < _MIN_YEAR) | (year > _MAX_YEAR)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            [
                Issue(
                    code="national-number-birth-year",
                    message=(
                        f"{int(bad.sum())} birth date(s) outside {_MIN_YEAR}-{_MAX_YEAR} (first: {dates[first]}); "
                        "the number cannot encode them"
                    ),
                    row=str(first),
                )
            ]
        )
    return dates, year, month, day


def _to_strings(numbers: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.str_]:
    """Zero-padded decimal strings, built digit by digit into a byte matrix (``astype(str)`` is ~10x slower)."""
    digits = np.empty((numbers.size, width), dtype=np.uint8)
    rest = numbers.copy()
    for pos in range(width - 1, -1, -1):
        digits[:, pos] = rest % 10 + ord("0")
        rest //= 10
    return digits.view(f"S{width}").ravel().astype(f"U{width}")


def format_national_numbers(birth_dates: npt.ArrayLike, serials: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """The 11-digit national numbers for given birth dates and serials (check digits computed).

    Separate from :func:`fake_national_numbers` so that the encoding can be checked against hand-computed
    examples without the randomness of serial assignment.
    """
    dates, year, month, day = _as_dates(birth_dates)
    serial = np.asarray(serials, dtype=np.int64)
    if serial.shape != dates.shape:
        raise ValueError(f"serials shape {serial.shape} differs from birth_dates shape {dates.shape}")
    if ((serial < SERIAL_MIN) | (serial > 998)).any():
        raise ValueError("serials must lie in 1..998")
    base = ((year % 100) * 10_000 + month * 100 + day) * 1000 + serial
    check = national_number_check_digits(base, year >= 2000)
    return _to_strings(base * 100 + check, 11)


def fake_national_numbers(
    birth_dates: npt.NDArray[np.datetime64],
    is_male: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> npt.NDArray[np.str_]:
    """Format-valid, fictitious national numbers (11-digit strings), unique within the call.

    Each person gets a serial of the right parity (odd for men, even for women) drawn at random in the
    reserved range 500..997 (see the module docstring); the check digits follow the pre-2000 or 2000+ rule
    from the birth year. Persons who share birth date and sex and draw the same serial are resolved
    deterministically by bumping to the next free serial (wrapping back inside the range where the bump
    would run off its top), so the result is a pure function of the inputs and the rng state.

    A (birth date, sex) group larger than the reserved range (249) spills into serials below 500; a group
    larger than the whole serial space (499 men, 498 women) cannot get distinct numbers and raises
    :class:`~scrambler.errors.DataError`.

    Runs in O(n log n) with one sort; no Python loop over persons.
    """
    dates, year, month, day = _as_dates(birth_dates)
    male = np.asarray(is_male)
    if male.dtype.kind != "b":
        # Refuse e.g. "M"/"F" strings or 0/1 with NaN: truthiness would silently make everyone male.
        raise TypeError(f"is_male must be a boolean array, got dtype {male.dtype}")
    if male.shape != dates.shape:
        raise ValueError(f"is_male shape {male.shape} differs from birth_dates shape {dates.shape}")
    n = dates.size
    if n == 0:
        return np.empty(0, dtype="U11")

    from_2000 = year >= 2000
    yymmdd = (year % 100) * 10_000 + month * 100 + day
    # Persons who would share the first 9 digits *and* the check form compete for serials. 1899 and 1999
    # share both (no prefix either way), hence the group is (yymmdd, century form, sex), not the full date.
    group = ((yymmdd + np.where(from_2000, 1_000_000, 0)) * 2 + male).astype(np.int64)

    reserved = _RESERVED_SLOTS
    draw = rng.integers(0, reserved, size=n, dtype=np.int64)
    order = np.argsort(group * reserved + draw, kind="stable")
    g_sorted = group[order]
    s_sorted = draw[order]

    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(g_sorted[1:], g_sorted[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    gid = np.cumsum(first) - 1
    sizes = np.diff(np.append(starts, n))
    rank = np.arange(n, dtype=np.int64) - starts[gid]
    size = sizes[gid]

    male_sorted = male[order]
    capacity = np.where(male_sorted, _CAPACITY_MALE, _CAPACITY_FEMALE)
    over = size > capacity
    if over.any():
        person = int(order[np.flatnonzero(over)[0]])
        raise DataError(
            [
                Issue(
                    code="national-number-serials-exhausted",
                    message=(
                        f"more persons of one sex born on {dates[person]} than serials exist "
                        f"({_CAPACITY_MALE} for men, {_CAPACITY_FEMALE} for women); numbers cannot be unique"
                    ),
                    row=str(person),
                )
            ]
        )

    # Bump: within a group (sorted by drawn slot) a_i = max(s_i, a_{i-1} + 1), whose closed form is
    # a_i = rank_i + max_{j<=i}(s_j - rank_j): a segmented running maximum. Offsetting each group by
    # gid * span (span > the spread of s - rank) keeps one global np.maximum.accumulate inside groups.
    span = 3 * _CAPACITY_MALE
    shifted = gid * span + (s_sorted - rank + _CAPACITY_MALE)
    running = np.maximum.accumulate(shifted)
    bumped = rank + (running - gid * span - _CAPACITY_MALE)
    # Pull back from the top: b_i = min(a_i, R - m + rank_i) stays strictly increasing (both terms are) and
    # lands in 0..R-1, so a group of m <= R persons keeps distinct slots inside the reserved range. A larger
    # group takes slots 0..m-1 in its random order: the whole reserved range first, then the spill.
    slot = np.where(size <= reserved, np.minimum(bumped, reserved - size + rank), rank)

    spill = slot - reserved
    serial_sorted = np.where(
        male_sorted,
        np.where(spill < 0, RESERVED_SERIAL_MIN + 1 + 2 * slot, RESERVED_SERIAL_MIN - 1 - 2 * spill),
        np.where(spill < 0, RESERVED_SERIAL_MIN + 2 * slot, RESERVED_SERIAL_MIN - 2 - 2 * spill),
    )
    # Cheap guard: a serial outside 001..997 would silently borrow from the neighbouring birth date.
    if serial_sorted.min() < SERIAL_MIN or serial_sorted.max() > SERIAL_MAX:
        raise AssertionError("serial outside 001..997; the slot constants are inconsistent")
    serial = np.empty(n, dtype=np.int64)
    serial[order] = serial_sorted

    base = yymmdd * 1000 + serial
    check = national_number_check_digits(base, from_2000)
    return _to_strings(base * 100 + check, 11)


def _split_number(
    values: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(well-formed, 9-digit base, 2-digit check) for strings, bytes, objects or integers.

    Well-formed means exactly 11 ASCII digits. Digits are read one column at a time from the fixed-width
    character codes, so memory stays at a few int64 arrays rather than an n x 11 int64 matrix.
    """
    n = values.size
    flat = values.ravel()
    kind = flat.dtype.kind
    if kind in "iu":
        # Integers (e.g. a CSV read without dtype=str) have lost their leading zeros; pad them back.
        ok = (flat >= 0) & (flat < 10**11)
        number = np.where(ok, flat, 0).astype(np.int64)
        return ok, number // 100, number % 100
    if kind == "O":
        # pandas' default string column. Non-strings (None, NaN, numbers) are not national numbers.
        is_str = np.fromiter((isinstance(v, str) for v in flat), dtype=bool, count=n)
        flat = np.where(is_str, flat, "").astype(str)
        kind = "U"
    else:
        is_str = np.ones(n, dtype=bool)
    codes: npt.NDArray[Any]
    if kind == "U":
        ok = is_str & (np.char.str_len(flat) == 11)
        codes = np.where(ok, flat, "").astype("U11").view(np.uint32).reshape(n, 11)
    elif kind == "S":
        ok = np.char.str_len(flat) == 11
        codes = np.where(ok, flat, b"").astype("S11").view(np.uint8).reshape(n, 11)
    else:
        zeros = np.zeros(n, dtype=np.int64)
        return np.zeros(n, dtype=bool), zeros, zeros
    base = np.zeros(n, dtype=np.int64)
    check = np.zeros(n, dtype=np.int64)
    for pos in range(11):
        digit = codes[:, pos].astype(np.int64) - ord("0")
        ok &= (digit >= 0) & (digit <= 9)
        if pos < 9:
            base = base * 10 + digit
        else:
            check = check * 10 + digit
    return ok, base, check


def is_valid_national_number(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each value is a format-valid national number: 11 digits whose check digits fit.

    The two-digit year does not say the century, so a number is valid if its check digits fit *either* the
    pre-2000 form (``97 - N mod 97``) or the 2000+ form (``97 - (2000000000 + N) mod 97``). Only the 11-digit
    form is accepted (no dots or dashes, as in ``85.07.30-033.28``): strip formatting first. Integers are
    accepted and left-padded to 11 digits, since a numeric read loses the leading zero of 2000-2009 births.
    The result has the shape of ``values``.

    The birth date and serial are deliberately not checked: real numbers may have month or day 00 (date
    unknown), and BIS numbers (month + 20 or + 40) share the check rule.
    """
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=bool)
    ok, base, check = _split_number(arr)
    valid = ok & ((check == 97 - base % 97) | (check == 97 - (base + PREFIX_2000) % 97))
    return valid.reshape(arr.shape)


def new_sequence_numbers(
    n: int,
    rng: np.random.Generator,
    exclude: npt.ArrayLike | None = None,
    *,
    low: int = SEQUENCE_LOW,
    high: int = SEQUENCE_HIGH,
) -> npt.NDArray[np.int64]:
    """``n`` unique, meaningless positive sequence numbers drawn at random from ``[low, high)``.

    They replace the input's person keys. ``exclude`` takes those input keys: no output equals one of them,
    so a published key can never be an input key (which would invite a false link back to a real person).
    The order is random (first-draw order, not sorted), so position says nothing either.

    Candidates are drawn in batches with a small surplus; duplicates (keeping the first draw) and excluded
    values are dropped. With n = 7.5 million in 9e9 values one batch nearly always suffices. The result
    depends only on the arguments and the rng state.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    banned = np.empty(0, dtype=np.int64)
    if exclude is not None:
        ex = np.asarray(exclude).ravel()
        if ex.size and ex.dtype.kind not in "iu":
            raise TypeError(f"exclude must hold integers, got dtype {ex.dtype}")
        ex = ex.astype(np.int64)
        banned = np.unique(ex[(ex >= low) & (ex < high)])
    available = (high - low) - banned.size
    if n > available:
        raise ValueError(f"cannot draw {n} unique numbers from [{low}, {high}) minus {banned.size} excluded")

    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        need = n - out.size
        cand = rng.integers(low, high, size=need + need // 32 + 64, dtype=np.int64)
        pool = np.concatenate([out, cand])
        _, first = np.unique(pool, return_index=True)
        first.sort()  # keep first occurrences in draw order: `out` stays a prefix, randomness is kept
        pool = pool[first]
        if banned.size:
            pool = pool[~np.isin(pool, banned)]
        out = pool[:n]
    return out
