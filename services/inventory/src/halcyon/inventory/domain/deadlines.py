"""Regulatory clocks: theft/loss notices, Form 106, biennial inventory, record retention.

Every date here is a day at the site (its IANA zone): a Denver count on Thursday at
18:00 is discovered on Thursday, even though it is Friday in UTC. Years are calendar
years, not 730 days (which would release a record a day early across 29 February).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from halcyon.inventory.domain.holidays import next_business_day

__all__ = ["next_business_day"]

# 21 CFR 1301.76(b): the DEA Form 106 follows within 45 days of discovering a theft/loss.
FORM_106_DAYS = 45
# 21 CFR 1304.11(c): a new inventory at least every two years.
BIENNIAL_YEARS = 2
BIENNIAL_ALERT_DAYS = 31
# 21 CFR 1304.04(a): records are kept at least two years from the date they were made.
RETENTION_YEARS = 2


def _zone(site_timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(site_timezone) if site_timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def site_date(at: datetime, site_timezone: str | None) -> date:
    """The site's calendar day of an instant (naive instants are UTC, as stored)."""
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return moment.astimezone(_zone(site_timezone)).date()


def years_later(day: date, years: int, *, leap_day_to: str) -> date:
    """``day`` plus calendar years; 29 February becomes 28 February (``"earlier"``, for a
    deadline) or 1 March (``"later"``, for a keep-until date) in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        if leap_day_to == "earlier":
            return date(day.year + years, 2, 28)
        return date(day.year + years, 3, 1)


def theft_loss_deadlines(discovered_on: date) -> dict[str, date]:
    """21 CFR 1301.76(b): notify the DEA Field Division in writing within one business
    day of discovery (weekends and federal holidays are not business days); file DEA
    Form 106 within 45 days. ``discovered_on`` is the site's day of discovery."""
    return {
        "dea_theft_loss_notice": next_business_day(discovered_on),
        "dea_form_106": discovered_on + timedelta(days=FORM_106_DAYS),
    }


def biennial_due(last_inventory_on: date) -> date:
    """21 CFR 1304.11(c): the next inventory is due two years after the last one."""
    return years_later(last_inventory_on, BIENNIAL_YEARS, leap_day_to="earlier")


def biennial_alert_needed(last_inventory_on: date, today: date) -> bool:
    return biennial_due(last_inventory_on) - today <= timedelta(days=BIENNIAL_ALERT_DAYS)


def retained_until(recorded_at: datetime, site_timezone: str | None = None) -> date:
    """The first site day on which the record may be archived: two calendar years after
    the site day it was made (a 29 February record waits until 1 March)."""
    made = site_date(recorded_at, site_timezone)
    return years_later(made, RETENTION_YEARS, leap_day_to="later")


def within_retention(
    recorded_at: datetime, now: datetime | None = None, site_timezone: str | None = None
) -> bool:
    """True while 21 CFR 1304.04(a) forbids deleting or archiving the record."""
    today = site_date(now or datetime.now(UTC), site_timezone)
    return today < retained_until(recorded_at, site_timezone)
