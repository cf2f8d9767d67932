"""US federal holidays (5 U.S.C. 6103) and business days: a pure calendar.

The DEA's "one business day" (21 CFR 1301.76(b)) counts days the Field Division is
open: not Saturdays, Sundays or federal holidays. A holiday that falls on a Saturday is
observed on the Friday before, one on a Sunday on the Monday after (5 U.S.C. 6103(b),
Executive Order 11582); so New Year's Day 2022 (a Saturday) was observed on Friday
31 December 2021.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

MONDAY, THURSDAY = 0, 3
JUNETEENTH_FROM = 2021  # Juneteenth National Independence Day Act


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def _holidays_of(year: int) -> dict[date, str]:
    """The legal dates of ``year``'s holidays (before moving weekend ones)."""
    days = {
        date(year, 1, 1): "New Year's Day",
        _nth_weekday(year, 1, MONDAY, 3): "Birthday of Martin Luther King, Jr.",
        _nth_weekday(year, 2, MONDAY, 3): "Washington's Birthday",
        _last_weekday(year, 5, MONDAY): "Memorial Day",
        date(year, 7, 4): "Independence Day",
        _nth_weekday(year, 9, MONDAY, 1): "Labor Day",
        _nth_weekday(year, 10, MONDAY, 2): "Columbus Day",
        date(year, 11, 11): "Veterans Day",
        _nth_weekday(year, 11, THURSDAY, 4): "Thanksgiving Day",
        date(year, 12, 25): "Christmas Day",
    }
    if year >= JUNETEENTH_FROM:
        days[date(year, 6, 19)] = "Juneteenth National Independence Day"
    return days


@lru_cache(maxsize=64)
def federal_holidays(year: int) -> dict[date, str]:
    """Days in ``year`` on which federal offices are closed for a holiday (observed)."""
    observed: dict[date, str] = {}
    for legal_year in (year, year + 1):  # next New Year's Day may be observed on 31 Dec
        for day, name in _holidays_of(legal_year).items():
            moved = _observed(day)
            if moved.year == year:
                observed[moved] = name if moved == day else f"{name} (observed)"
    return observed


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def next_business_day(day: date) -> date:
    """The first business day after ``day``."""
    current = day + timedelta(days=1)
    while not is_business_day(current):
        current += timedelta(days=1)
    return current
