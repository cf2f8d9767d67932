"""Free-slot search: where every required person and a suitable room are free."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from halcyon.scheduling.api.common import ID_PATTERN, SCHEDULERS, SchedulerDep
from halcyon.scheduling.domain.calendar import (
    Busy,
    ClinicianCalendar,
    DateException,
    Interval,
    RoomOption,
    WeeklyWindow,
    days_between,
    free_slots,
    zone,
)
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from pydantic import BaseModel

router = APIRouter(tags=["search"])
MAX_DAYS = 31


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


@router.get(
    "/free-slots",
    response_model=FreeSlotsOut,
    summary="Free slots for a type at a site, shown in the site's local time",
)
async def search_free_slots(
    caller: CurrentCaller,
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
    caller.require(SCHEDULERS, site_id)
    if to_date < from_date or (to_date - from_date).days >= MAX_DAYS:
        raise RuleViolation(f"search a range of 1 to {MAX_DAYS} days, from_date first")
    tenant = caller.tenant_id
    kind = await scheduler.appointment_type(tenant, appointment_type)
    if kind is None:
        raise RuleViolation(f"there is no appointment type {appointment_type!r}")
    site = await scheduler.site(tenant, site_id)
    if site is None or not site.get("timezone"):
        raise RuleViolation(f"site {site_id} is not known to scheduling (yet)")
    opening = [WeeklyWindow.model_validate(w) for w in site.get("opening_hours", [])]
    if not opening:
        raise RuleViolation(f"site {site_id} has no opening hours yet")
    tz = zone(site["timezone"])
    roles = sorted({r.role for r in kind.required_roles})
    if clinician_id:
        staff_docs = await scheduler.staff.find(tenant, {"_id": {"$in": clinician_id[:50]}})
        by_id = {d["_id"]: d for d in staff_docs}
        staff_docs = [by_id[s] for s in clinician_id if s in by_id]  # keep the caller's order
    else:
        staff_docs = await scheduler.staff.find(
            tenant, {"site_roles": {"$in": [f"{site_id}|{r}" for r in roles]}}, limit=200
        )
    staff_docs = [d for d in staff_docs if d.get("active", True)]
    range_start = datetime.combine(from_date, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    range_end = datetime.combine(
        to_date + timedelta(days=1), datetime.min.time(), tzinfo=tz
    ).astimezone(UTC)
    ids = [d["_id"] for d in staff_docs]
    templates = {
        d["staff_id"]: d
        for d in await scheduler.availability.find(
            tenant, {"_id": {"$in": [f"{s}:{site_id}" for s in ids]}}
        )
    }
    time_off: dict[str, list[Interval]] = {}
    for off in await scheduler.time_off.find(
        tenant,
        {
            "staff_id": {"$in": ids},
            "starts_at": {"$lt": range_end},
            "ends_at": {"$gt": range_start},
        },
        limit=2000,
    ):
        time_off.setdefault(off["staff_id"], []).append(Interval(off["starts_at"], off["ends_at"]))
    clinicians = []
    for doc in staff_docs:
        template = templates.get(doc["_id"])
        clinicians.append(
            ClinicianCalendar(
                staff_id=doc["_id"],
                roles=frozenset(
                    r["role"] for r in doc.get("roles", []) if r.get("site") in (site_id, "*")
                ),
                weekly=tuple(
                    WeeklyWindow.model_validate(w) for w in (template or {}).get("weekly", [])
                ),
                exceptions=tuple(
                    DateException.model_validate(e) for e in (template or {}).get("exceptions", [])
                ),
                time_off=tuple(time_off.get(doc["_id"], [])),
                has_template=template is not None,
            )
        )
    rooms: list[RoomOption] | None = None
    if not kind.telehealth:
        query: dict[str, object] = {"site_id": site_id, "active": True}
        if kind.room_attribute:
            query["attributes"] = kind.room_attribute
        rooms = [
            RoomOption(d["_id"], frozenset(d.get("attributes", [])))
            for d in await scheduler.rooms.find(tenant, query, limit=200)
        ]
    resources = [f"clinician:{s}" for s in ids] + [f"room:{r.room_id}" for r in rooms or []]
    busy = Busy(await scheduler.claims.busy(tenant, resources, range_start, range_end))
    found = free_slots(
        days=days_between(from_date, to_date),
        tz=tz,
        opening=opening,
        duration=timedelta(minutes=kind.duration_minutes),
        required_roles=[(r.role, r.count) for r in kind.required_roles],
        clinicians=clinicians,
        rooms=rooms,
        busy=busy,
        limit=limit,
    )
    return FreeSlotsOut(
        site_id=site_id,
        site_timezone=site["timezone"],
        appointment_type=kind.code,
        slots=[
            FreeSlotOut(
                starts_at=s.interval.start,
                ends_at=s.interval.end,
                starts_at_local=s.interval.start.astimezone(tz).isoformat(),
                ends_at_local=s.interval.end.astimezone(tz).isoformat(),
                clinicians=[
                    SlotClinician(staff_id=c, role=r)
                    for c, r in zip(s.clinician_ids, s.roles, strict=True)
                ],
                room_id=s.room_id,
            )
            for s in found
        ],
    )
