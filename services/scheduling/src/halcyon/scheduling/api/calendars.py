"""Calendars: site opening hours, rooms, appointment types, protocols, clinician availability."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from halcyon.scheduling.api.common import ADMINS, AGENCY_WIDE, ID_PATTERN, READERS
from halcyon.scheduling.api.deps import SchedulerDep
from halcyon.scheduling.domain.calendar import DateException, WeeklyWindow
from halcyon.scheduling.domain.catalog import (
    DEFAULT_PROTOCOLS,
    DEFAULT_TYPES,
    AppointmentType,
    ProtocolRules,
)
from halcyon.scheduling.domain.gating import type_below_floor, type_keeps_protocol
from halcyon.shared.access import Access, RecordAccess
from halcyon.shared.errors import Forbidden, NotFound, RuleViolation
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import as_record
from halcyon.shared.protocol_floors import floor_of
from halcyon.shared.references import resolve_site, resolve_staff
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from uuid6 import uuid7

router = APIRouter(tags=["calendars"])
Id = Annotated[str, Path(pattern=ID_PATTERN)]
SITES, ROOMS = "scheduling/site", "scheduling/room"
TYPES, CALENDARS = "scheduling/appointment-type", "scheduling/calendar"


# -- sites ---------------------------------------------------------------------------


class OpeningHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    windows: list[WeeklyWindow] = Field(max_length=50)


class SiteOut(BaseModel):
    id: str
    name: str | None = None
    timezone: str
    active: bool = True
    opening_hours: list[WeeklyWindow] = []


@router.put(
    "/sites/{site_id}/opening-hours",
    response_model=SiteOut,
    summary="Set a site's weekly opening hours (wall-clock, the site's zone)",
)
async def set_opening_hours(
    site_id: Id, body: OpeningHoursIn, access: Access, scheduler: SchedulerDep
) -> SiteOut:
    await access.require(ADMINS, site_id, action="update", resource=SITES)
    site = await scheduler.site(access.tenant_id, site_id)
    if site is None:
        raise NotFound(f"site {site_id} is not known to scheduling (yet)")
    updated = await scheduler.sites.update(
        access.tenant_id,
        {"_id": site_id},
        {"$set": {"opening_hours": [w.model_dump(mode="json") for w in body.windows]}},
    )
    if updated is None:
        raise NotFound(f"site {site_id} is not known to scheduling (yet)")
    return _site(updated)


@router.get("/sites/{site_id}", response_model=SiteOut, summary="A site's zone and hours")
async def read_site(site_id: Id, access: Access, scheduler: SchedulerDep) -> SiteOut:
    await access.require(READERS, site_id, action="read", resource=SITES)
    site = await scheduler.site(access.tenant_id, site_id)
    if site is None:
        raise NotFound(f"site {site_id} is not known to scheduling (yet)")
    return _site(site)


def _site(doc: dict[str, object]) -> SiteOut:
    return SiteOut.model_validate(as_record(doc))


# -- rooms ---------------------------------------------------------------------------


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    attributes: list[str] = Field(
        default=[], max_length=20, description="e.g. dosing_room, group_room, office"
    )
    capacity: int = Field(default=1, ge=1, le=100)


class RoomOut(RoomIn):
    model_config = ConfigDict(extra="ignore")

    id: str
    active: bool = True


@router.post("/rooms", status_code=status.HTTP_201_CREATED, response_model=RoomOut)
async def create_room(body: RoomIn, access: Access, scheduler: SchedulerDep) -> RoomOut:
    await access.require(ADMINS, body.site_id, action="create", resource=ROOMS)
    if await scheduler.site(access.tenant_id, body.site_id) is None:
        raise RuleViolation(f"site {body.site_id} is not known to scheduling (yet)")
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(),
        "attributes": sorted(set(body.attributes)),
        "active": True,
        "created_at": datetime.now(UTC),
    }
    saved = await scheduler.rooms.insert(access.tenant_id, doc)
    return RoomOut.model_validate({"id": saved["_id"], **saved})


@router.get("/rooms", response_model=PageOut[RoomOut], summary="Rooms of a site")
async def list_rooms(
    access: Access,
    scheduler: SchedulerDep,
    page: Annotated[PageParams, Depends(page_params)],
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
) -> PageOut[RoomOut]:
    await access.require(READERS, site_id, action="read", resource=ROOMS)
    result = await scheduler.rooms.page(
        access.tenant_id, {"site_id": site_id}, limit=page.limit, cursor=page.cursor
    )
    return PageOut(
        items=[RoomOut.model_validate({"id": d["_id"], **d}) for d in result.items],
        next_cursor=result.next_cursor,
    )


# -- appointment types and protocols ---------------------------------------------------


@router.get(
    "/appointment-types",
    response_model=list[AppointmentType],
    summary="The agency's appointment types (defaults merged with its own)",
)
async def list_types(access: Access, scheduler: SchedulerDep) -> list[AppointmentType]:
    await access.require(READERS, None, action="read", resource=TYPES)
    return await scheduler.all_types(access.tenant_id)


@router.put(
    "/appointment-types/{code}",
    response_model=AppointmentType,
    summary="Define an appointment type or override a default (agency-wide admins)",
)
async def put_type(
    code: Id, body: AppointmentType, access: Access, scheduler: SchedulerDep
) -> AppointmentType:
    await access.require(ADMINS, AGENCY_WIDE, action="update", resource=TYPES)
    if body.code != code:
        raise RuleViolation("the body's code must match the path")
    if body.protocol_id and body.protocol_id not in DEFAULT_PROTOCOLS:
        raise RuleViolation(f"protocol {body.protocol_id} is not defined")
    if body.telehealth and body.room_attribute:
        raise RuleViolation("a telehealth type takes no room")
    # Agencies may tighten a protocol's minimums, never loosen them (ADR 0404).
    below = type_below_floor(body, floor_of(body.protocol_id))
    below += type_keeps_protocol(body, DEFAULT_TYPES.get(code))
    if below:
        raise RuleViolation(
            "the type is below its protocol's floor: " + "; ".join(f.detail for f in below),
            failed_conditions=[f.as_dict() for f in below],
        )
    await scheduler.types.update(
        access.tenant_id,
        {"_id": f"{access.tenant_id}:{code}"},
        {"$set": {"definition": body.model_dump(mode="json"), "updated_by": access.caller.user_id}},
        upsert=True,
    )
    return body


@router.get("/protocols", response_model=list[ProtocolRules], summary="Protocol rules (data)")
async def list_protocols(access: Access) -> list[ProtocolRules]:
    await access.require(READERS, None, action="read", resource="scheduling/protocol")
    return list(DEFAULT_PROTOCOLS.values())


# -- clinician availability ------------------------------------------------------------


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: str = Field(pattern=ID_PATTERN)
    weekly: list[WeeklyWindow] = Field(max_length=50)
    exceptions: list[DateException] = Field(default=[], max_length=366)


class AvailabilityOut(AvailabilityIn):
    model_config = ConfigDict(extra="ignore")

    staff_id: str


class TimeOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> TimeOffIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("time off must end after it starts")
        return self


class TimeOffOut(TimeOffIn):
    model_config = ConfigDict(extra="ignore")

    id: str
    staff_id: str


async def _may_manage_calendar(access: RecordAccess, staff_id: str, site_id: str | None) -> None:
    # A clinician keeps their own calendar; admins keep everyone's.
    if access.caller.user_id == staff_id:
        return
    try:
        await access.require(ADMINS, site_id, action="update", resource=CALENDARS)
    except Forbidden:
        raise Forbidden("only the clinician or an agency admin can change this calendar") from None


@router.put(
    "/clinicians/{staff_id}/availability",
    response_model=AvailabilityOut,
    summary="A clinician's weekly template at a site (wall-clock), with date exceptions",
)
async def set_availability(
    staff_id: Id, body: AvailabilityIn, access: Access, scheduler: SchedulerDep
) -> AvailabilityOut:
    await _may_manage_calendar(access, staff_id, body.site_id)
    await resolve_staff(scheduler.staff, access.caller, staff_id, field=None)
    await resolve_site(scheduler.sites, access.caller, body.site_id)
    await scheduler.availability.update(
        access.tenant_id,
        {"_id": f"{staff_id}:{body.site_id}"},
        {
            "$set": {
                "staff_id": staff_id,
                "site_id": body.site_id,
                "weekly": [w.model_dump(mode="json") for w in body.weekly],
                "exceptions": [e.model_dump(mode="json") for e in body.exceptions],
                "updated_by": access.caller.user_id,
            }
        },
        upsert=True,
    )
    return AvailabilityOut(staff_id=staff_id, **body.model_dump())


@router.get("/clinicians/{staff_id}/availability", response_model=AvailabilityOut)
async def read_availability(
    staff_id: Id,
    access: Access,
    scheduler: SchedulerDep,
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
) -> AvailabilityOut:
    await access.require(READERS, site_id, action="read", resource=CALENDARS)
    doc = await scheduler.availability.get(access.tenant_id, f"{staff_id}:{site_id}")
    if doc is None:
        raise NotFound(f"no availability recorded for {staff_id} at {site_id}")
    return AvailabilityOut.model_validate(doc)


@router.post(
    "/clinicians/{staff_id}/time-off",
    status_code=status.HTTP_201_CREATED,
    response_model=TimeOffOut,
)
async def add_time_off(
    staff_id: Id, body: TimeOffIn, access: Access, scheduler: SchedulerDep
) -> TimeOffOut:
    await _may_manage_calendar(access, staff_id, None)
    await resolve_staff(scheduler.staff, access.caller, staff_id, field=None)
    doc = {
        "_id": str(uuid7()),
        "staff_id": staff_id,
        "starts_at": body.starts_at.astimezone(UTC),
        "ends_at": body.ends_at.astimezone(UTC),
        "reason": body.reason,
        "created_by": access.caller.user_id,
    }
    await scheduler.time_off.insert(access.tenant_id, doc)
    return TimeOffOut(id=doc["_id"], staff_id=staff_id, **body.model_dump())


class ClinicianOut(BaseModel):
    staff_id: str
    display_name: str
    active: bool
    roles: list[dict[str, str]]
    licences: list[dict[str, str]]


@router.get(
    "/clinicians/{staff_id}",
    response_model=ClinicianOut,
    summary="A staff member as scheduling knows them (roles, licences; from identity's events)",
)
async def read_clinician(staff_id: Id, access: Access, scheduler: SchedulerDep) -> ClinicianOut:
    await access.require(READERS, None, action="read", resource="scheduling/clinician")
    doc = await scheduler.staff.get(access.tenant_id, staff_id)
    if doc is None:
        raise NotFound(f"scheduling does not know staff member {staff_id} (yet)")
    return ClinicianOut(
        staff_id=doc["_id"],
        display_name=doc.get("display_name", ""),
        active=doc.get("active", True),
        roles=doc.get("roles", []),
        licences=doc.get("licences", []),
    )
