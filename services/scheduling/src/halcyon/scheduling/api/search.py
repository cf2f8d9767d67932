"""Free-slot search: where every required person and a suitable room are free."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from halcyon.scheduling.api.common import ID_PATTERN, SCHEDULERS
from halcyon.scheduling.api.deps import SchedulerDep
from halcyon.scheduling.domain.calendar import FreeSlot
from halcyon.scheduling.usecases.search import SlotQuery, find_free_slots
from halcyon.shared.access import Access
from pydantic import BaseModel

router = APIRouter(tags=["search"])


class SlotClinician(BaseModel):
    staff_id: str
    role: str


class FreeSlotOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    starts_at_local: str
    ends_at_local: str
    clinicians: list[SlotClinician]
    room_id: str | None = None


class FreeSlotsOut(BaseModel):
    site_id: str
    site_timezone: str
    appointment_type: str
    slots: list[FreeSlotOut]


def _slot(slot: FreeSlot, tz: ZoneInfo) -> FreeSlotOut:
    return FreeSlotOut(
        starts_at=slot.interval.start,
        ends_at=slot.interval.end,
        starts_at_local=slot.interval.start.astimezone(tz).isoformat(),
        ends_at_local=slot.interval.end.astimezone(tz).isoformat(),
        clinicians=[
            SlotClinician(staff_id=c, role=r)
            for c, r in zip(slot.clinician_ids, slot.roles, strict=True)
        ],
        room_id=slot.room_id,
    )


@router.get(
    "/free-slots",
    response_model=FreeSlotsOut,
    summary="Free slots for a type at a site, shown in the site's local time",
)
async def search_free_slots(
    access: Access,
    scheduler: SchedulerDep,
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
    appointment_type: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$")],
    from_date: Annotated[date, Query(description="first local date at the site")],
    to_date: Annotated[date, Query(description="last local date at the site (inclusive)")],
    clinician_id: Annotated[
        list[str] | None, Query(description="only these clinicians (repeat the parameter)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FreeSlotsOut:
    await access.require(SCHEDULERS, site_id, action="read", resource="scheduling/free-slots")
    query = SlotQuery(
        site_id, appointment_type, from_date, to_date, tuple(clinician_id or ()), limit
    )
    found = await find_free_slots(scheduler, access.tenant_id, query)
    return FreeSlotsOut(
        site_id=found.site_id,
        site_timezone=found.timezone,
        appointment_type=found.appointment_type,
        slots=[_slot(s, found.tz) for s in found.slots],
    )
