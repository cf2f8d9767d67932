"""Recurring series: every occurrence is an ordinary appointment at the same wall-clock
time at the site. Occurrences that clash or break a rule are skipped, the rest booked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from halcyon.scheduling.domain.booking import BookingRefused, BookingRequest, SlotTaken
from halcyon.scheduling.domain.calendar import Recurrence, expand_series, zone
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document
from pydantic import TypeAdapter
from uuid6 import uuid7

if TYPE_CHECKING:
    from halcyon.scheduling.usecases.booking import Scheduler


@dataclass(frozen=True)
class SeriesRequest:
    client_id: str
    site_id: str
    appointment_type: str
    first_date: date  # the first occurrence's date at the site
    local_time: time  # wall-clock start at the site
    clinicians: tuple[tuple[str, str], ...]  # (staff_id, role)
    recurrence: Recurrence
    room_id: str | None = None

    def occurrence(self, starts_at: datetime) -> BookingRequest:
        return BookingRequest(
            client_id=self.client_id,
            site_id=self.site_id,
            appointment_type=self.appointment_type,
            starts_at=starts_at,
            clinicians=self.clinicians,
            room_id=self.room_id,
        )


@dataclass
class SkippedOccurrence:
    starts_at: datetime
    starts_at_local: str
    reason: str
    failed_conditions: list[dict[str, str]] = field(default_factory=list)


@dataclass
class SeriesBooked:
    id: str
    site_timezone: str
    appointments: list[Document]
    skipped: list[SkippedOccurrence]


SKIPPED = TypeAdapter(list[SkippedOccurrence])


async def book_series(scheduler: Scheduler, caller: Caller, wanted: SeriesRequest) -> SeriesBooked:
    tenant = caller.tenant_id
    kind = await scheduler.appointment_type(tenant, wanted.appointment_type)
    site = await scheduler.site(tenant, wanted.site_id)
    if kind is None:
        raise RuleViolation(f"there is no appointment type {wanted.appointment_type!r}")
    if site is None or not site.get("timezone"):
        raise RuleViolation(f"site {wanted.site_id} is not known to scheduling (yet)")
    if kind.protocol_step == "dosing":
        raise RuleViolation("dosing sessions are booked one at a time, never as a series")
    tz = zone(site["timezone"])
    duration = timedelta(minutes=kind.duration_minutes)
    occurrences = expand_series(
        wanted.first_date, wanted.local_time, duration, wanted.recurrence, tz
    )
    now = datetime.now(UTC)
    if occurrences[0].start <= now:
        raise RuleViolation("the first occurrence must be in the future")
    series_id = str(uuid7())
    booked: list[Document] = []
    skipped: list[SkippedOccurrence] = []
    for occurrence in occurrences:
        try:
            plan = await scheduler.plan(tenant, wanted.occurrence(occurrence.start))
            booked.append(await scheduler.book(caller, plan, series_id=series_id))
        except (BookingRefused, SlotTaken) as exc:
            skipped.append(
                SkippedOccurrence(
                    starts_at=occurrence.start,
                    starts_at_local=occurrence.start.astimezone(tz).isoformat(),
                    reason=exc.detail,
                    failed_conditions=exc.extensions.get("failed_conditions", []),
                )
            )
    if not booked:
        raise BookingRefused(
            "no occurrence of the series could be booked",
            skipped=SKIPPED.dump_python(skipped, mode="json"),
        )
    await scheduler.series_store.insert(
        tenant,
        {
            "_id": series_id,
            "client_id": wanted.client_id,
            "site_id": wanted.site_id,
            "appointment_type": wanted.appointment_type,
            "first_date": wanted.first_date.isoformat(),
            "local_time": wanted.local_time.isoformat(),
            "recurrence": wanted.recurrence.model_dump(mode="json"),
            "appointment_ids": [d["_id"] for d in booked],
            "created_by": caller.user_id,
            "created_at": now,
        },
    )
    return SeriesBooked(series_id, site["timezone"], booked, skipped)
