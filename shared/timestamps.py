"""What the data contract calls an ISO 8601 timestamp, decided in one place: a regular expression
that Python's `re` (the HTTP API, a value at a time) and Arrow's RE2 (the batch path, a column at
a time) both run, so that the two paths give every text the same verdict.

    is_timestamp(text) -> bool                 one value, its blanks already trimmed
    timestamp_mask(texts) -> bool array        a column of text (Arrow): True where it is one
    utc_moments(texts) -> pandas Series        the column's timestamps as UTC moments, NaT else

The grammar:
- a calendar date, 2024-07-01 or 20240701: years 0001 to 9999, the days each month has, 29
  February in leap years only;
- then, optionally, "T" or a space and a time of day: hours, optionally minutes, then optionally
  seconds with any number of decimals (10, 10:30, 10:30:15.25; or 1030, 103015.25). Hours 00-23,
  minutes and seconds 00-59: no leap second, no 24:00;
- then, optionally, a zone: Z, or an offset from UTC of at most 23:59 (+05:30, +0530, +05, -08),
  a space allowed before it. A time without a zone is UTC.

Why not either parser's own verdict: Python's `datetime.fromisoformat` also reads week dates
(2024-W27-1), a lowercase "t" and decimal commas, which pandas refuses; pandas' ISO 8601 reading
also takes 2024, 2024-07 and 2024-7-1, and whether it takes year 1000 depends on the other values
of its column (one with 7 or more decimals makes it read the column in nanoseconds, whose range
starts in 1677). Calendar rules written as alternatives keep the expression one both engines run:
RE2 has no look-ahead and no back-reference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_YEAR: Final = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"  # not 0000
# Divisible by 4 and not by 100, or by 400 (which 0000 would be, but it is no year here).
_LEAP_YEAR: Final = (
    "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
)
_HOUR: Final = "(?:[01][0-9]|2[0-3])"
_SIXTY: Final = "[0-5][0-9]"


def _date(separator: str) -> str:
    days_31 = f"(?:0[13578]|1[02]){separator}(?:0[1-9]|[12][0-9]|3[01])"
    days_30 = f"(?:0[469]|11){separator}(?:0[1-9]|[12][0-9]|30)"
    days_28 = f"02{separator}(?:0[1-9]|1[0-9]|2[0-8])"
    return (
        f"(?:{_YEAR}{separator}(?:{days_31}|{days_30}|{days_28})"
        f"|{_LEAP_YEAR}{separator}02{separator}29)"
    )


def _time(separator: str) -> str:
    return f"{_HOUR}(?:{separator}{_SIXTY}(?:{separator}{_SIXTY}(?:\\.[0-9]+)?)?)?"


_ZONE: Final = f"(?:Z| ?[+-]{_HOUR}(?::?{_SIXTY})?)"
PATTERN: Final = f"(?:{_date('-')}|{_date('')})(?:[T ](?:{_time(':')}|{_time('')}){_ZONE}?)?"
_COMPILED: Final = re.compile(PATTERN)  # [0-9], never \d: Python's would take any script's digits
_ANCHORED: Final = f"^{PATTERN}$"  # RE2's $ is the end of the text (Python's fullmatch, below)
_PAST_MICROSECONDS: Final = r"(\.[0-9]{6})[0-9]+"


def is_timestamp(text: str) -> bool:
    """Whether `text` (blanks around it already trimmed) is a timestamp of the grammar."""
    return _COMPILED.fullmatch(text) is not None


def timestamp_mask(texts: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """For each text of the column (blanks around it already trimmed): whether it is a timestamp
    of the grammar. A null is not."""
    import pyarrow.compute as pc  # here: the HTTP path checks values one by one, without Arrow

    matched = pc.fill_null(pc.match_substring_regex(texts, _ANCHORED), False)
    return np.asarray(matched.to_numpy(zero_copy_only=False), dtype=np.bool_)


def utc_moments(texts: pa.Array | pa.ChunkedArray) -> pd.Series:
    """Each text of the column (blanks around it already trimmed) that is a timestamp of the
    grammar as a UTC moment, to the microsecond (naive: taken as UTC); NaT for any other value
    and for null."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    taken = pc.if_else(pa.array(timestamp_mask(texts)), texts, pa.scalar(None, texts.type))
    # Decimals past the microsecond are dropped: with 7 or more in one value pandas reads the
    # whole column in nanoseconds, which has no year before 1677 or after 2262.
    taken = pc.replace_substring_regex(taken, _PAST_MICROSECONDS, r"\1")
    given = pd.Series(taken.to_numpy(zero_copy_only=False), dtype=object)
    # pandas reads every timestamp of the grammar (a test holds it to that); were one to fail,
    # it would be NaT rather than an exception.
    return pd.to_datetime(given, errors="coerce", utc=True, format="ISO8601")
