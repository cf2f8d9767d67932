"""Deadlines in the site's days and US business days (21 CFR 1301.76(b), 1304.04(a),
1304.11(c)): DST changes, Friday evenings in Denver, federal holidays, 29 February."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from halcyon.inventory.domain.deadlines import (
    biennial_due,
    retained_until,
    site_date,
    theft_loss_deadlines,
    within_retention,
)
from halcyon.inventory.domain.holidays import federal_holidays, is_business_day, next_business_day

DENVER = "America/Denver"


def local(text: str, zone: str = DENVER) -> datetime:
    """A wall-clock time at the site, as the aware UTC instant the service stores."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def deadlines_of(count_at: datetime, zone: str = DENVER) -> dict[str, date]:
    return theft_loss_deadlines(site_date(count_at, zone))


def test_a_thursday_evening_count_in_denver_is_due_friday_not_monday() -> None:
    """The bug report: Thursday 18:00 in Denver is Friday 01:00 UTC."""
    count_at = local("2026-12-03T18:00")  # Thursday
    assert count_at.date() == date(2026, 12, 4)  # already Friday in UTC
    assert deadlines_of(count_at) == {
        "dea_theft_loss_notice": date(2026, 12, 4),  # Friday, one business day
        "dea_form_106": date(2027, 1, 17),  # 45 days from Thursday, not Friday
    }


def test_a_friday_evening_count_is_due_monday_and_the_106_counts_from_friday() -> None:
    count_at = local("2026-12-04T19:30")  # Friday evening, Saturday in UTC
    assert deadlines_of(count_at) == {
        "dea_theft_loss_notice": date(2026, 12, 7),
        "dea_form_106": date(2027, 1, 18),
    }


def test_friday_evening_before_a_monday_holiday_is_due_tuesday() -> None:
    count_at = local("2027-01-15T20:00")  # Friday; Monday 18 January is MLK Day
    assert deadlines_of(count_at)["dea_theft_loss_notice"] == date(2027, 1, 19)


@pytest.mark.parametrize(
    ("discovered", "due", "why"),
    [
        (date(2026, 11, 25), date(2026, 11, 27), "Wednesday before Thanksgiving"),
        (date(2026, 7, 2), date(2026, 7, 6), "4 July 2026 is a Saturday: observed Friday 3rd"),
        (date(2026, 12, 24), date(2026, 12, 28), "Christmas Friday, then the weekend"),
        (date(2021, 12, 30), date(2022, 1, 3), "New Year 2022 (Sat) observed Fri 31 Dec"),
        (date(2027, 6, 18), date(2027, 6, 21), "Juneteenth 2027 (Sat) observed Fri 18th"),
        (date(2026, 10, 9), date(2026, 10, 13), "Columbus Day Monday"),
        (date(2026, 11, 10), date(2026, 11, 12), "Veterans Day Wednesday"),
    ],
)
def test_the_day_before_a_federal_holiday(discovered: date, due: date, why: str) -> None:
    assert next_business_day(discovered) == due, why


def test_federal_holidays_with_their_observed_days() -> None:
    days = federal_holidays(2026)
    assert len(days) == 11
    assert days[date(2026, 7, 3)] == "Independence Day (observed)"
    assert date(2026, 7, 4) not in days
    assert days[date(2026, 1, 19)].startswith("Birthday of Martin Luther King")
    assert days[date(2026, 5, 25)] == "Memorial Day"
    assert days[date(2026, 11, 26)] == "Thanksgiving Day"
    assert date(2021, 12, 31) in federal_holidays(2021)  # New Year's Day 2022, observed
    assert not is_business_day(date(2026, 12, 25))
    assert is_business_day(date(2026, 12, 28))


def test_counts_either_side_of_the_dst_changes_use_the_site_day() -> None:
    # Spring forward: Sunday 8 March 2026, 23:30 MDT is Monday 05:30 UTC.
    spring = local("2026-03-08T23:30")
    assert spring.date() == date(2026, 3, 9)
    assert deadlines_of(spring)["dea_theft_loss_notice"] == date(2026, 3, 9)
    # Just before the change (01:30 MST) and just after (03:30 MDT): the same Sunday.
    assert site_date(local("2026-03-08T01:30"), DENVER) == date(2026, 3, 8)
    assert site_date(local("2026-03-08T03:30"), DENVER) == date(2026, 3, 8)
    # Fall back: Sunday 1 November 2026, 23:30 MST is Monday 06:30 UTC.
    fall = local("2026-11-01T23:30")
    assert fall.date() == date(2026, 11, 2)
    assert deadlines_of(fall) == {
        "dea_theft_loss_notice": date(2026, 11, 2),
        "dea_form_106": date(2026, 12, 16),
    }
    # Saturday 31 October, 18:00 MDT (00:00 UTC Sunday): still Saturday at the site.
    assert deadlines_of(local("2026-10-31T18:00"))["dea_theft_loss_notice"] == date(2026, 11, 2)


def test_retention_is_two_calendar_years_across_29_february() -> None:
    """21 CFR 1304.04(a): 730 days would release these a day early."""
    made = local("2023-03-01T10:00")
    assert within_retention(made, local("2025-02-28T12:00"), DENVER)  # day 730
    assert not within_retention(made, local("2025-03-01T00:01"), DENVER)
    leap = local("2024-02-29T09:00")
    assert retained_until(leap, DENVER) == date(2026, 3, 1)
    assert within_retention(leap, local("2026-02-28T23:59"), DENVER)
    assert not within_retention(leap, local("2026-03-01T00:00"), DENVER)
    # A record made late on 28 February in Denver (29th in UTC) counts from the 28th.
    late = local("2024-02-28T21:00")
    assert late.date() == date(2024, 2, 29)
    assert retained_until(late, DENVER) == date(2026, 2, 28)


def test_biennial_inventory_is_due_on_the_calendar_anniversary() -> None:
    assert biennial_due(date(2024, 2, 29)) == date(2026, 2, 28)  # never late
    assert biennial_due(date(2023, 3, 1)) == date(2025, 3, 1)
    assert theft_loss_deadlines(date(2028, 1, 20))["dea_form_106"] == date(2028, 3, 5)
