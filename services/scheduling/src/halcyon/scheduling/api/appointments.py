"""Appointments: book, read, list, reschedule, cancel, check in, start, complete, no-show;
recurring series."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from halcyon.scheduling.api.common import (
    ID_PATTERN,
    READERS,
    SCHEDULERS,
    audit_read_of_clients,
)
from halcyon.scheduling.api.deps import SchedulerDep
from halcyon.scheduling.domain.booking import BookingRefused, BookingRequest
from halcyon.scheduling.domain.calendar import Recurrence, zone
from halcyon.scheduling.usecases import series as series_booking
from halcyon.scheduling.usecases.gating import SessionRefused, record_step
from halcyon.scheduling.usecases.series import SeriesRequest
from halcyon.shared.access import Access, RecordAccess
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, as_record
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

router = APIRouter(tags=["appointments"])
Id = Annotated[str, Path(pattern=ID_PATTERN)]
RESOURCE = "scheduling/appointment"
HORIZON = timedelta(days=2 * 366)


class ClinicianIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    staff_id: str = Field(pattern=ID_PATTERN)
    role: str = Field(min_length=1, max_length=64)


def _future(value: datetime) -> datetime:
    now = datetime.now(UTC)
    if value <= now:
        raise ValueError("must be in the future")
    if value - now > HORIZON:
        raise ValueError("must be within two years")
    return value.astimezone(UTC)


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(pattern=ID_PATTERN)
    site_id: str = Field(pattern=ID_PATTERN)
    appointment_type: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    starts_at: AwareDatetime = Field(description="with an offset; stored in UTC")
    clinicians: list[ClinicianIn] = Field(min_length=1, max_length=10)
    room_id: str | None = Field(default=None, pattern=ID_PATTERN)

    _starts = field_validator("starts_at")(_future)

    def request(self) -> BookingRequest:
        return BookingRequest(
            client_id=self.client_id,
            site_id=self.site_id,
            appointment_type=self.appointment_type,
            starts_at=self.starts_at,
            clinicians=tuple((c.staff_id, c.role) for c in self.clinicians),
            room_id=self.room_id,
        )


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime
    clinicians: list[ClinicianIn] | None = Field(default=None, min_length=1, max_length=10)
    room_id: str | None = Field(default=None, pattern=ID_PATTERN)

    _starts = field_validator("starts_at")(_future)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class SeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(pattern=ID_PATTERN)
    site_id: str = Field(pattern=ID_PATTERN)
    appointment_type: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    first_date: date = Field(description="the first occurrence's date at the site")
    local_time: time = Field(description="wall-clock start at the site, e.g. 10:00")
    clinicians: list[ClinicianIn] = Field(min_length=1, max_length=10)
    room_id: str | None = Field(default=None, pattern=ID_PATTERN)
    recurrence: Recurrence

    @field_validator("local_time")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a wall-clock time at the site, without an offset")
        return value

    def request(self) -> SeriesRequest:
        return SeriesRequest(
            client_id=self.client_id,
            site_id=self.site_id,
            appointment_type=self.appointment_type,
            first_date=self.first_date,
            local_time=self.local_time,
            clinicians=tuple((c.staff_id, c.role) for c in self.clinicians),
            recurrence=self.recurrence,
            room_id=self.room_id,
        )


class HistoryEntry(BaseModel):
    change: str
    status: str
    at: datetime
    by: str
    reason: str | None = None
    late_cancel: bool | None = None
    starts_at: datetime | None = None
    from_starts_at: datetime | None = None


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The booked clinicians in the room now; omitted: as at check-in, else all booked.
    present_staff_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(
        default=None, max_length=10
    )


class ProposedSession(BaseModel):
    appointment_type: str
    starts_at: datetime
    starts_at_local: str


class AppointmentOut(BaseModel):
    id: str
    client_id: str
    site_id: str
    site_timezone: str
    appointment_type: str
    protocol_id: str | None = None
    status: str
    starts_at: datetime
    ends_at: datetime
    starts_at_local: str
    ends_at_local: str
    clinicians: list[ClinicianIn]
    room_id: str | None = None
    telehealth: bool = False
    video_link: str | None = None
    cancel_reason: str | None = None
    late_cancel: bool = False
    series_id: str | None = None
    group_session_id: str | None = None
    version: int
    history: list[HistoryEntry]
    # Conditions a consent/screening change broke since booking (docs/adr/0403).
    gate_flags: list[str] = []
    present_staff_ids: list[str] | None = None
    warnings: list[dict[str, Any]] = []
    proposed_integration_sessions: list[ProposedSession] = []


def _out(
    doc: Document, proposals: list[datetime] | None = None, integration: str = ""
) -> AppointmentOut:
    tz = zone(doc["site_timezone"])
    return AppointmentOut.model_validate(
        {
            **as_record(doc),
            "starts_at_local": doc["starts_at"].astimezone(tz).isoformat(),
            "ends_at_local": doc["ends_at"].astimezone(tz).isoformat(),
            "proposed_integration_sessions": [
                {
                    "appointment_type": integration,
                    "starts_at": p,
                    "starts_at_local": p.astimezone(tz).isoformat(),
                }
                for p in proposals or []
            ],
        }
    )


async def _audit(access: RecordAccess, doc: Document, action: str) -> None:
    await access.audit.record(
        access.caller,
        action=action,
        resource=RESOURCE,
        resource_id=doc["_id"],
        client_id=doc["client_id"],
        site_id=doc["site_id"],
        request=access.request,
    )


async def _open(
    access: RecordAccess, scheduler: SchedulerDep, appointment_id: str, action: str
) -> Document:
    """The appointment, if the caller may read (READERS) or change (SCHEDULERS) it."""
    roles = READERS if action == "read" else SCHEDULERS
    return await access.open(
        scheduler.appointments,
        appointment_id,
        roles,
        action=action,
        resource=RESOURCE,
        what="appointment",
    )


async def _audit_refusal(
    access: RecordAccess, refused: BookingRefused | SessionRefused, doc: Document, action: str
) -> None:
    """A refusal discloses consent/screening facts about the client: audit it."""
    codes = [c["code"] for c in refused.extensions.get("failed_conditions", [])]
    await access.audit.record(
        access.caller,
        action=action,
        resource=RESOURCE,
        resource_id=doc.get("_id"),
        client_id=doc["client_id"],
        site_id=doc["site_id"],
        outcome="failed",
        reason=", ".join(codes),
        request=access.request,
    )


def _with_proposals(scheduler: SchedulerDep, doc: Document) -> AppointmentOut:
    protocol = scheduler.protocol(doc.get("protocol_id"))
    return _out(doc, scheduler.proposals(doc), protocol.integration_type if protocol else "")


@router.post(
    "/appointments",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentOut,
    summary="Book an appointment (no double booking of clinicians, room or client)",
    responses={409: {"description": "slot taken"}, 422: {"description": "refused"}},
)
async def book(body: BookingIn, access: Access, scheduler: SchedulerDep) -> AppointmentOut:
    await access.require(
        SCHEDULERS, body.site_id, action="create", resource=RESOURCE, client_id=body.client_id
    )
    try:
        plan = await scheduler.plan(access.tenant_id, body.request())
    except BookingRefused as refused:
        wanted = {"client_id": body.client_id, "site_id": body.site_id}
        await _audit_refusal(access, refused, wanted, "create")
        raise
    doc = await scheduler.book(access.caller, plan)
    await _audit(access, doc, "create")
    return _with_proposals(scheduler, doc)


@router.get("/appointments/{appointment_id}", response_model=AppointmentOut)
async def read_appointment(
    appointment_id: Id, access: Access, scheduler: SchedulerDep
) -> AppointmentOut:
    doc = await _open(access, scheduler, appointment_id, "read")
    await _audit(access, doc, "read")
    return _with_proposals(scheduler, doc)


@router.get(
    "/appointments",
    response_model=PageOut[AppointmentOut],
    summary="A site's appointments (optionally one client's), in booking order",
)
async def list_appointments(
    access: Access,
    scheduler: SchedulerDep,
    page: Annotated[PageParams, Depends(page_params)],
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
    client_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    series_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> PageOut[AppointmentOut]:
    await access.require(READERS, site_id, action="read", resource=RESOURCE, client_id=client_id)
    query: Document = {"site_id": site_id}
    if client_id:
        query["client_id"] = client_id
    if series_id:
        query["series_id"] = series_id
    result = await scheduler.appointments.page(
        access.tenant_id, query, limit=page.limit, cursor=page.cursor
    )
    clients = {d["client_id"] for d in result.items}
    await audit_read_of_clients(access, clients, resource=RESOURCE, site_id=site_id)
    return PageOut(items=[_out(d) for d in result.items], next_cursor=result.next_cursor)


async def _change(
    appointment_id: str,
    change: str,
    access: RecordAccess,
    scheduler: SchedulerDep,
    reason: str | None = None,
    attendance: AttendanceIn | None = None,
) -> AppointmentOut:
    doc = await _open(access, scheduler, appointment_id, "update")
    given = attendance.present_staff_ids if attendance else None
    try:
        updated = await record_step(
            scheduler, access.caller, doc, change, reason=reason, given_present=given
        )
    except SessionRefused as refused:
        await _audit_refusal(access, refused, doc, "update")
        raise
    await _audit(access, updated, "update")
    return _out(updated)


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentOut)
async def cancel(
    appointment_id: Id, body: CancelIn, access: Access, scheduler: SchedulerDep
) -> AppointmentOut:
    """Cancel with a reason; inside the type's notice window it is flagged a late cancel.
    The freed slot is offered to the first suitable client on the waitlist."""
    return await _change(appointment_id, "cancelled", access, scheduler, body.reason)


@router.post("/appointments/{appointment_id}/check-in", response_model=AppointmentOut)
async def check_in(
    appointment_id: Id, access: Access, scheduler: SchedulerDep, body: AttendanceIn | None = None
) -> AppointmentOut:
    """A dosing session re-checks its protocol's conditions now (ADR 0403)."""
    return await _change(appointment_id, "checked_in", access, scheduler, attendance=body)


@router.post("/appointments/{appointment_id}/start", response_model=AppointmentOut)
async def start(
    appointment_id: Id, access: Access, scheduler: SchedulerDep, body: AttendanceIn | None = None
) -> AppointmentOut:
    """A dosing session re-checks its protocol's conditions now (ADR 0403)."""
    return await _change(appointment_id, "started", access, scheduler, attendance=body)


@router.post("/appointments/{appointment_id}/complete", response_model=AppointmentOut)
async def complete(appointment_id: Id, access: Access, scheduler: SchedulerDep) -> AppointmentOut:
    return await _change(appointment_id, "completed", access, scheduler)


@router.post("/appointments/{appointment_id}/no-show", response_model=AppointmentOut)
async def no_show(appointment_id: Id, access: Access, scheduler: SchedulerDep) -> AppointmentOut:
    return await _change(appointment_id, "no_show", access, scheduler)


@router.post("/appointments/{appointment_id}/reschedule", response_model=AppointmentOut)
async def reschedule(
    appointment_id: Id, body: RescheduleIn, access: Access, scheduler: SchedulerDep
) -> AppointmentOut:
    """Move an appointment (and optionally change clinicians or room); every rule is
    checked again and the new time is claimed before the old one is released."""
    doc = await _open(access, scheduler, appointment_id, "update")
    clinicians = (
        tuple((c.staff_id, c.role) for c in body.clinicians)
        if body.clinicians is not None
        else None
    )
    room_id = body.room_id if "room_id" in body.model_fields_set else doc.get("room_id")
    updated = await scheduler.move(access.caller, doc, body.starts_at, clinicians, room_id)
    await _audit(access, updated, "update")
    return _with_proposals(scheduler, updated)


# -- series --------------------------------------------------------------------------


class SkippedOccurrence(BaseModel):
    starts_at: datetime
    starts_at_local: str
    reason: str
    failed_conditions: list[dict[str, str]] = []


class SeriesOut(BaseModel):
    id: str
    recurrence: Recurrence
    local_time: time
    site_timezone: str
    appointments: list[AppointmentOut]
    skipped: list[SkippedOccurrence]


@router.post(
    "/series",
    status_code=status.HTTP_201_CREATED,
    response_model=SeriesOut,
    summary="Book a weekly/biweekly series at the same wall-clock time at the site",
)
async def book_series(body: SeriesIn, access: Access, scheduler: SchedulerDep) -> SeriesOut:
    """Each occurrence is an ordinary appointment (reschedule or cancel it on its own).
    Occurrences that clash or break a rule are returned as skipped, the rest are booked."""
    await access.require(
        SCHEDULERS, body.site_id, action="create", resource=RESOURCE, client_id=body.client_id
    )
    series = await series_booking.book_series(scheduler, access.caller, body.request())
    for doc in series.appointments:
        await _audit(access, doc, "create")
    return SeriesOut(
        id=series.id,
        recurrence=body.recurrence,
        local_time=body.local_time,
        site_timezone=series.site_timezone,
        appointments=[_out(d) for d in series.appointments],
        skipped=[SkippedOccurrence.model_validate(s, from_attributes=True) for s in series.skipped],
    )
