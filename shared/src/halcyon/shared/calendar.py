"""Calendar days at a site: the day people at the site would name, not UTC's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from halcyon.shared.errors import RuleViolation


def site_day(at: datetime, site_timezone: str | None) -> date:
    """The site's local date of ``at`` (a 7 pm Denver session is not 'tomorrow').

    An unknown or missing zone falls back to UTC rather than failing a write; a naive
    ``at`` is taken as UTC (what the services store).
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if not site_timezone:
        return at.astimezone(UTC).date()
    try:
        return at.astimezone(ZoneInfo(site_timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return at.astimezone(UTC).date()


def require_period(start: date, end: date) -> None:
    """A report period of site-local days, both ends included: refused (422) backwards."""
    if end < start:
        raise RuleViolation("the period ends before it starts", start=str(start), end=str(end))
