"""Free-slot search: where every required person and a suitable room are free.

Loads the site, the type, the candidate clinicians' templates and time off, the rooms
and the claimed buckets in a handful of batched reads; the domain finds the slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from halcyon.scheduling.domain.calendar import (
    Busy,
    FreeSlot,
    Interval,
    RoomOption,
    WeeklyWindow,
    check_search_range,
    clinician_calendar,
    days_between,
    free_slots,
    local_days_span,
    zone,
)
from halcyon.scheduling.domain.catalog import AppointmentType
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document

if TYPE_CHECKING:
    from halcyon.scheduling.usecases.booking import Scheduler


@dataclass(frozen=True)
class SlotQuery:
    site_id: str
    appointment_type: str
    from_date: date
    to_date: date
    clinician_ids: tuple[str, ...] = ()  # only these, in this order of preference
    limit: int = 50


@dataclass(frozen=True)
class SlotsFound:
    site_id: str
    timezone: str
    appointment_type: str
    slots: list[FreeSlot]

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)


async def _candidates(
    scheduler: Scheduler, tenant: str, query: SlotQuery, kind: AppointmentType
) -> list[Document]:
    staff = scheduler.staff
    if query.clinician_ids:
        docs = await staff.find(tenant, {"_id": {"$in": list(query.clinician_ids[:50])}})
        by_id = {d["_id"]: d for d in docs}
        docs = [by_id[s] for s in query.clinician_ids if s in by_id]  # keep the caller's order
    else:
        roles = sorted({r.role for r in kind.required_roles})
        wanted = [f"{query.site_id}|{r}" for r in roles]
        docs = await staff.find(tenant, {"site_roles": {"$in": wanted}}, limit=200)
    return [d for d in docs if d.get("active", True)]


async def _time_off(
    scheduler: Scheduler, tenant: str, ids: list[str], span: Interval
) -> dict[str, list[Interval]]:
    found: dict[str, list[Interval]] = {}
    for off in await scheduler.time_off.find(
        tenant,
        {"staff_id": {"$in": ids}, "starts_at": {"$lt": span.end}, "ends_at": {"$gt": span.start}},
        limit=2000,
    ):
        found.setdefault(off["staff_id"], []).append(Interval(off["starts_at"], off["ends_at"]))
    return found


async def _rooms(
    scheduler: Scheduler, tenant: str, site_id: str, kind: AppointmentType
) -> list[RoomOption] | None:
    """The site's rooms that suit the type; ``None`` when it needs none (telehealth)."""
    if kind.telehealth:
        return None
    query: dict[str, object] = {"site_id": site_id, "active": True}
    if kind.room_attribute:
        query["attributes"] = kind.room_attribute
    return [
        RoomOption(d["_id"], frozenset(d.get("attributes", [])))
        for d in await scheduler.rooms.find(tenant, query, limit=200)
    ]


async def find_free_slots(scheduler: Scheduler, tenant: str, query: SlotQuery) -> SlotsFound:
    check_search_range(query.from_date, query.to_date)
    kind = await scheduler.appointment_type(tenant, query.appointment_type)
    if kind is None:
        raise RuleViolation(f"there is no appointment type {query.appointment_type!r}")
    site_id = query.site_id
    site = await scheduler.site(tenant, site_id)
    if site is None or not site.get("timezone"):
        raise RuleViolation(f"site {site_id} is not known to scheduling (yet)")
    opening = [WeeklyWindow.model_validate(w) for w in site.get("opening_hours", [])]
    if not opening:
        raise RuleViolation(f"site {site_id} has no opening hours yet")
    tz = zone(site["timezone"])
    staff = await _candidates(scheduler, tenant, query, kind)
    span = local_days_span(query.from_date, query.to_date, tz)
    ids = [d["_id"] for d in staff]
    templates = {
        d["staff_id"]: d
        for d in await scheduler.availability.find(
            tenant, {"_id": {"$in": [f"{s}:{site_id}" for s in ids]}}
        )
    }
    time_off = await _time_off(scheduler, tenant, ids, span)
    clinicians = [
        clinician_calendar(d, templates.get(d["_id"]), time_off.get(d["_id"], []), site_id)
        for d in staff
    ]
    rooms = await _rooms(scheduler, tenant, site_id, kind)
    resources = [f"clinician:{s}" for s in ids] + [f"room:{r.room_id}" for r in rooms or []]
    busy = Busy(await scheduler.claims.busy(tenant, resources, span.start, span.end))
    found = free_slots(
        days=days_between(query.from_date, query.to_date),
        tz=tz,
        opening=opening,
        duration=timedelta(minutes=kind.duration_minutes),
        required_roles=[(r.role, r.count) for r in kind.required_roles],
        clinicians=clinicians,
        rooms=rooms,
        busy=busy,
        limit=query.limit,
    )
    return SlotsFound(site_id, site["timezone"], kind.code, found)
