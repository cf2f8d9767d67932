"""Calendar arithmetic: wall-clock windows in a site's zone, slot buckets, series, free slots.

Everything is stored in UTC; everything a person sees or configures (opening hours,
weekly availability, "every Tuesday at 10:00") is wall-clock time in the site's IANA
zone. Converting at the last moment with ``zoneinfo`` is what keeps a weekly 10:00
at 10:00 across a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from halcyon.shared.errors import RuleViolation
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Free time is reckoned per 5-minute bucket: fine enough that a 53-minute session leaves
# the next start free at :55.
BUCKET = timedelta(minutes=5)
# A claim holds an aligned block of one of these sizes, each a whole number of the one
# before, all counted from one epoch: any two blocks are nested or apart (ADR 0400).
# The largest blocks that fit are taken, so an 8-hour session on the hour holds at most
# 5 blocks per resource (~100 buckets before), a 53-minute one 5 (11 before).
SLOT_SPANS = (BUCKET, timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))
# A dosing interval (N days from the session's start, to the minute, like the rule)
# adds blocks of 1, 4 and 16 days.
WINDOW_SPANS = (*SLOT_SPANS, timedelta(days=1), timedelta(days=4), timedelta(days=16))
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SEARCH_STEP = timedelta(minutes=15)


class WeeklyWindow(BaseModel):
    """A recurring wall-clock window, e.g. Monday 09:00-17:00 local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyWindow:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times in the site's zone, no offset")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts (same day)")
        return self


class DateException(BaseModel):
    """On this local date the clinician works these windows instead (none = not working)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on: date
    windows: tuple[tuple[time, time], ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> DateException:
        for start, end in self.windows:
            if end <= start:
                raise ValueError("a window must end after it starts (same day)")
        return self


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def local_iso(value: datetime, tz: ZoneInfo) -> str:
    """An instant as the site's wall clock shows it, with its offset."""
    return value.astimezone(tz).isoformat()


def is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def local_datetime(on: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time, or None if it does not exist (spring-forward gap)."""
    local = datetime.combine(on, at, tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


def within_windows(interval: Interval, tz: ZoneInfo, windows: Iterable[tuple[time, time]]) -> bool:
    """Whether the interval lies inside one wall-clock window of its local day."""
    start = interval.start.astimezone(tz)
    end = interval.end.astimezone(tz)
    if end.date() != start.date() and end.time() != time(0):
        return False  # crosses midnight: no window holds it
    end_clock = time.max if end.date() != start.date() else end.time()
    return any(w0 <= start.time() and end_clock <= w1 for w0, w1 in windows)


def windows_on(
    day: date,
    weekly: Sequence[WeeklyWindow],
    exceptions: Sequence[DateException] = (),
) -> list[tuple[time, time]]:
    for exception in exceptions:
        if exception.on == day:
            return list(exception.windows)
    return [(w.start, w.end) for w in weekly if w.weekday == day.weekday()]


@dataclass(frozen=True, order=True)
class Block:
    """An aligned piece of time one claim document holds for one resource."""

    start: datetime
    span: timedelta

    @property
    def end(self) -> datetime:
        return self.start + self.span

    def buckets(self) -> list[datetime]:
        return buckets(Interval(self.start, self.end))


def _aligned(at: datetime, span: timedelta) -> bool:
    return (at - EPOCH) % span == timedelta(0)


def _floor(at: datetime, span: timedelta) -> datetime:
    return EPOCH + ((at.astimezone(UTC) - EPOCH) // span) * span


def blocks(interval: Interval, spans: Sequence[timedelta] = SLOT_SPANS) -> list[Block]:
    """The fewest aligned blocks covering the interval's buckets: at each step the
    largest block that starts there and does not reach past the (rounded-up) end."""
    unit = spans[0]
    current = _floor(interval.start, unit)
    end = _floor(interval.end, unit)
    if end < interval.end.astimezone(UTC):
        end += unit
    out: list[Block] = []
    while current < end:
        span = next(s for s in reversed(spans) if _aligned(current, s) and current + s <= end)
        out.append(Block(current, span))
        current += span
    return out


def related_blocks(block: Block, spans: Sequence[timedelta] = SLOT_SPANS) -> list[Block]:
    """Every block of another size that overlaps this one: the larger ones holding it
    and the smaller ones inside it. Two claims on one resource collide exactly when
    their blocks are equal (the unique id) or one is in the other's related blocks."""
    larger = [Block(_floor(block.start, s), s) for s in spans if s > block.span]
    smaller = [
        Block(block.start + k * s, s)
        for s in spans
        if s < block.span
        for k in range(block.span // s)
    ]
    return larger + smaller


def buckets(interval: Interval) -> list[datetime]:
    """The claim buckets an interval occupies (floor of start up to, not including, end)."""
    out = []
    current = _floor(interval.start, BUCKET)
    while current < interval.end:
        out.append(current)
        current += BUCKET
    return out


# -- recurring series ----------------------------------------------------------------


class Recurrence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency: Literal["weekly", "biweekly"]
    count: int | None = Field(default=None, ge=1, le=52)
    until: date | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Recurrence:
        if (self.count is None) == (self.until is None):
            raise ValueError("give exactly one of count or until")
        return self


MAX_OCCURRENCES = 52


def expand_series(
    first_day: date, at: time, duration: timedelta, rule: Recurrence, tz: ZoneInfo
) -> list[Interval]:
    """Occurrences at the same wall-clock time in ``tz`` — 10:00 stays 10:00 across DST.

    A wall-clock time that does not exist on a day (the spring-forward gap) is moved
    forward by the gap, as a person would.
    """
    step = timedelta(days=7 if rule.frequency == "weekly" else 14)
    out: list[Interval] = []
    day = first_day
    while len(out) < MAX_OCCURRENCES:
        if rule.count is not None and len(out) >= rule.count:
            break
        if rule.until is not None and day > rule.until:
            break
        start = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
        out.append(Interval(start, start + duration))
        day += step
    return out


# -- free-slot search ----------------------------------------------------------------


@dataclass(frozen=True)
class ClinicianCalendar:
    staff_id: str
    roles: frozenset[str]
    weekly: tuple[WeeklyWindow, ...] = ()
    exceptions: tuple[DateException, ...] = ()
    time_off: tuple[Interval, ...] = ()
    # Availability restricts only once a weekly template is recorded; time off always does.
    has_template: bool = False

    def available(self, interval: Interval, tz: ZoneInfo) -> bool:
        if any(off.overlaps(interval) for off in self.time_off):
            return False
        if not self.has_template:
            return True
        day = interval.start.astimezone(tz).date()
        return within_windows(interval, tz, windows_on(day, self.weekly, self.exceptions))


@dataclass(frozen=True)
class RoomOption:
    room_id: str
    attributes: frozenset[str]


@dataclass(frozen=True)
class FreeSlot:
    interval: Interval
    clinician_ids: tuple[str, ...]
    roles: tuple[str, ...]
    room_id: str | None


@dataclass
class Busy:
    """Claimed buckets per resource key ("clinician:x", "room:y")."""

    claimed: Mapping[str, set[datetime]] = field(default_factory=dict)

    def free(self, resource: str, interval: Interval) -> bool:
        taken = self.claimed.get(resource)
        return not taken or not any(b in taken for b in buckets(interval))


def free_slots(
    *,
    days: Sequence[date],
    tz: ZoneInfo,
    opening: Sequence[WeeklyWindow],
    duration: timedelta,
    required_roles: Sequence[tuple[str, int]],
    clinicians: Sequence[ClinicianCalendar],
    rooms: Sequence[RoomOption] | None,
    busy: Busy,
    limit: int = 50,
) -> list[FreeSlot]:
    """Starts (every 15 min inside opening hours) where every role and a room are free.

    ``rooms=None`` means no room is needed (telehealth). Clinicians are picked in the
    order given, so a caller that lists preferred clinicians first gets them first.
    """
    out: list[FreeSlot] = []
    for day in days:
        for w_start, w_end in windows_on(day, opening):
            cursor = datetime.combine(day, w_start)
            last = datetime.combine(day, w_end)
            while cursor + duration <= last and len(out) < limit:
                start = local_datetime(day, cursor.time(), tz)
                cursor += SEARCH_STEP
                if start is None:
                    continue
                interval = Interval(start, start + duration)
                if not within_windows(interval, tz, [(w_start, w_end)]):
                    continue
                slot = _staff_slot(interval, tz, required_roles, clinicians, rooms, busy)
                if slot is not None:
                    out.append(slot)
            if len(out) >= limit:
                return out
    return out


def _staff_slot(
    interval: Interval,
    tz: ZoneInfo,
    required_roles: Sequence[tuple[str, int]],
    clinicians: Sequence[ClinicianCalendar],
    rooms: Sequence[RoomOption] | None,
    busy: Busy,
) -> FreeSlot | None:
    chosen: list[tuple[str, str]] = []
    for role, count in required_roles:
        for clinician in clinicians:
            if sum(1 for _, r in chosen if r == role) >= count:
                break
            if (
                role in clinician.roles
                and clinician.staff_id not in {c for c, _ in chosen}
                and clinician.available(interval, tz)
                and busy.free(f"clinician:{clinician.staff_id}", interval)
            ):
                chosen.append((clinician.staff_id, role))
        if sum(1 for _, r in chosen if r == role) < count:
            return None
    room_id: str | None = None
    if rooms is not None:
        room = next((r for r in rooms if busy.free(f"room:{r.room_id}", interval)), None)
        if room is None:
            return None
        room_id = room.room_id
    return FreeSlot(
        interval=interval,
        clinician_ids=tuple(c for c, _ in chosen),
        roles=tuple(r for _, r in chosen),
        room_id=room_id,
    )


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# A free-slot search covers at most this many local days.
MAX_SEARCH_DAYS = 31


def check_search_range(first: date, last: date) -> None:
    if last < first or (last - first).days >= MAX_SEARCH_DAYS:
        raise RuleViolation(f"search a range of 1 to {MAX_SEARCH_DAYS} days, from_date first")


def local_days_span(first: date, last: date, tz: ZoneInfo) -> Interval:
    """From the start of ``first`` to the end of ``last`` at the site, in UTC."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return Interval(start, end.astimezone(UTC))


def clinician_calendar(
    staff: Mapping[str, Any],
    template: Mapping[str, Any] | None,
    time_off: Sequence[Interval],
    site_id: str,
) -> ClinicianCalendar:
    """A staff member's calendar at a site: roles there, weekly template, time off."""
    return ClinicianCalendar(
        staff_id=staff["_id"],
        roles=frozenset(
            r["role"] for r in staff.get("roles", []) if r.get("site") in (site_id, "*")
        ),
        weekly=tuple(WeeklyWindow.model_validate(w) for w in (template or {}).get("weekly", [])),
        exceptions=tuple(
            DateException.model_validate(e) for e in (template or {}).get("exceptions", [])
        ),
        time_off=tuple(time_off),
        has_template=template is not None,
    )
