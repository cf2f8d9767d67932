"""Quiet hours in the client's own time zone: messages are deferred, never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class QuietHours:
    start: time  # local time quiet hours begin, e.g. 21:00
    end: time  # local time they end, e.g. 08:00 (may be on the next day)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # wraps past midnight


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def next_allowed(now: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """The earliest UTC instant at or after ``now`` outside the quiet hours."""
    if quiet is None:
        return now
    local = now.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return now
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day = end_day + timedelta(days=1)  # started this evening, ends tomorrow morning
    wake = datetime.combine(end_day, quiet.end, tzinfo=tz)
    return wake.astimezone(UTC)


def parse_clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def send_time(
    now: datetime, tz: ZoneInfo, quiet: QuietHours | None, too_late_at: datetime | None = None
) -> datetime | None:
    """When to send: now, or the end of the quiet hours; None when that would be at or
    after ``too_late_at`` (a reminder arriving once the appointment began is useless)."""
    due = next_allowed(now, tz, quiet)
    if too_late_at is not None and due >= too_late_at:
        return None
    return due
