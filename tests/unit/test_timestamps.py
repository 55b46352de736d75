"""The contract's timestamp grammar: what it takes and refuses, the same in Python's `re` and in
Arrow's RE2, the calendar as `datetime` has it, and pandas reading every timestamp it takes."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.timestamps import is_timestamp, timestamp_mask

TAKEN = [
    "2024-07-01", "20240701", "2024-07-01T10", "2024-07-01 10:30", "2024-07-01T10:30:15",
    "2024-07-01T10:30:15.5", "2024-07-01T10:30:15.123456789", "2024-07-01T103015.25",
    "20240701T1030", "2024-07-01T10:30:15Z", "2024-07-01T10:30+05:30", "2024-07-01T10:30+0530",
    "2024-07-01T10-08", "2024-07-01 10:30:15 +05:30", "0001-01-01", "9999-12-31T23:59:59",
    "2024-02-29", "2000-02-29", "0400-02-29", "1000-01-01", "2024-07-01T23:59:59-23:59",
]  # fmt: skip
REFUSED = [
    # What one parser or the other took, and the two paths disagreed on:
    "2024", "2024-07", "2024-7-1", "2024-W27-1", "2024-W27", "2024-07-01t10:30",
    "2024-07-01T10:30:15,5", "2024-07-01T10:30:15.", "-1",
    # Not on the calendar or the clock:
    "0000-01-01", "2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-10",
    "2024-07-00", "2024-07-01T24:00", "2024-07-01T10:60", "2024-07-01T10:30:60",
    "2024-07-01T10+24:00", "2024-07-01T10+05:60",
    # Not the grammar:
    "2024-07-01Z", "2024-0701", "2024-07-01T1030:15", "+2024-07-01", "02024-07-01",
    "2024-07-01T10:30z", "2024-07-01 10:30 UTC", "01/07/2024", "yesterday", "",
    "2024-07-01\n", "٢٠٢٤-07-01",
]  # fmt: skip


@pytest.mark.parametrize("text", TAKEN)
def test_a_timestamp_of_the_grammar_is_taken_by_both_engines(text: str) -> None:
    assert is_timestamp(text)
    assert timestamp_mask(pa.array([text], pa.large_string())).tolist() == [True]


@pytest.mark.parametrize("text", REFUSED)
def test_other_text_is_refused_by_both_engines(text: str) -> None:
    assert not is_timestamp(text)
    assert timestamp_mask(pa.array([text], pa.large_string())).tolist() == [False]


def test_a_null_in_a_column_is_no_timestamp() -> None:
    assert timestamp_mask(pa.array(["2024-07-01", None], pa.large_string())).tolist() == [
        True,
        False,
    ]


SPELLINGS = st.sampled_from(TAKEN + REFUSED)
# Valid and invalid texts alike: a spelling with characters of the grammar's alphabet (and a few
# others) put in, taken out or changed.
MUTATED = st.builds(
    lambda text, at, cut, put: (
        text[: at % (len(text) + 1)] + put + text[at % (len(text) + 1) + cut :]
    ),
    SPELLINGS,
    st.integers(0, 40),
    st.integers(0, 2),
    st.text(alphabet="0123456789-:T Z.+,tW\n", max_size=3),
)


@given(st.lists(st.one_of(MUTATED, st.text(max_size=30)), min_size=1, max_size=20))
def test_python_and_arrow_give_every_text_the_same_verdict(texts: list[str]) -> None:
    assert timestamp_mask(pa.array(texts, pa.large_string())).tolist() == [
        is_timestamp(text) for text in texts
    ]


@given(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32))
def test_a_date_is_taken_when_the_calendar_has_it(year: int, month: int, day: int) -> None:
    on_calendar = year >= 1 and 1 <= month <= 12 and 1 <= day <= _days(year, month)
    assert is_timestamp(f"{year:04}-{month:02}-{day:02}") == on_calendar
    assert is_timestamp(f"{year:04}{month:02}{day:02}") == on_calendar


@given(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.booleans())
def test_a_time_is_taken_when_the_clock_has_it(
    hour: int, minute: int, second: int, offset: bool
) -> None:
    on_clock = hour < 24 and minute < 60 and second < 60
    assert is_timestamp(f"2024-07-01T{hour:02}:{minute:02}:{second:02}") == on_clock
    if offset:  # an offset is at most 23:59
        assert is_timestamp(f"2024-07-01T10:00+{hour:02}:{minute:02}") == (
            hour < 24 and minute < 60
        )


def _days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1] if 1 <= month <= 12 else 0


# Within a day of years 1 and 9999 an offset takes the moment out of Python's years (not pandas').
VALID_DATES = st.dates(date(2, 1, 1), date(9998, 12, 31)).map(lambda d: d.isoformat())
VALID_TIMES = st.builds(
    lambda h, m, s, decimals, zone: f"{h:02}:{m:02}:{s:02}{decimals}{zone}",
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", ".5", ".123456", ".123456789"]),
    st.sampled_from(["", "Z", "+05:30", "-08:00", "+0200"]),
)


@given(st.lists(st.tuples(VALID_DATES, st.none() | VALID_TIMES), min_size=1, max_size=10))
def test_pandas_reads_every_timestamp_of_the_grammar_as_python_does(
    parts: list[tuple[str, str | None]],
) -> None:
    # With the decimals past the microsecond dropped, as the contract's check does: with nine
    # in one value pandas would read the column in nanoseconds, where year 1000 is no date.
    texts = [date if time is None else f"{date}T{time}" for date, time in parts]
    assert all(is_timestamp(text) for text in texts)
    readable = [text.replace(".123456789", ".123456") for text in texts]
    parsed = pd.to_datetime(pd.Series(readable, dtype=object), utc=True, format="ISO8601")
    expected = [_utc(datetime.fromisoformat(text)) for text in readable]
    assert [value.to_pydatetime() for value in parsed] == expected


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
