"""Monitoring periods: how the data's own time is cut into the periods a check judges.

    Period.parse("week")            a period length as `[monitoring] period` spells it
    period.start_of(day)            the first day of the period holding `day`
    period.bounds(day)              [first day, day after the last) of that period

A period is made of whole UTC days, so the drift counts the batch function keeps per day of the
data (`shared.drift.DailyDriftCounts`) add up exactly into any period:

    day           one UTC day
    week          an ISO week, Monday to Sunday
    month         a calendar month
    <N>d          N days, counted in blocks from 1970-01-01 (N from 1 to 366): "14d"

Standard library only: the configuration reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

EXPECTED: Final = 'one of "day", "week", "month", or "<N>d" for N days (1 to 366), as "14d"'
EPOCH_DAY: Final = date(1970, 1, 1)
_DAYS = re.compile(r"([1-9][0-9]{0,2})d")


@dataclass(frozen=True)
class Period:
    unit: str  # "day", "week", "month" or "days"
    days: int = 1  # the length, for "days"

    @classmethod
    def parse(cls, text: object) -> Period | None:
        """The period `text` names; None when it names none (see `EXPECTED`)."""
        if not isinstance(text, str):
            return None
        if text in ("day", "week", "month"):
            return cls(text)
        matched = _DAYS.fullmatch(text)
        if matched is None or not 1 <= int(matched.group(1)) <= 366:
            return None
        return cls("days", int(matched.group(1)))

    @property
    def name(self) -> str:
        return f"{self.days}d" if self.unit == "days" else self.unit

    def start_of(self, day: date) -> date:
        if self.unit == "day":
            return day
        if self.unit == "week":
            return day - timedelta(days=day.weekday())
        if self.unit == "month":
            return day.replace(day=1)
        offset = (day - EPOCH_DAY).days
        return EPOCH_DAY + timedelta(days=offset - offset % self.days)

    def bounds(self, day: date) -> tuple[date, date]:
        """The first day of the period holding `day`, and the first day after it."""
        start = self.start_of(day)
        if self.unit == "month":
            following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
            return start, following
        length = {"day": 1, "week": 7}.get(self.unit, self.days)
        return start, start + timedelta(days=length)


def day_of(moment: datetime) -> date:
    """The UTC day of a moment (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


def day_number(day: date) -> int:
    """Days since 1970-01-01: how the drift counts key their days."""
    return (day - EPOCH_DAY).days


def day_of_number(number: int) -> date:
    return EPOCH_DAY + timedelta(days=number)
