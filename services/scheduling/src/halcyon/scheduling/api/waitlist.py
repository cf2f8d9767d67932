"""Waitlist: clients waiting for a type (or a clinician); freed slots are offered in order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from halcyon.scheduling.api.appointments import AppointmentOut, _out
from halcyon.scheduling.api.common import ID_PATTERN, READERS, SCHEDULERS, SchedulerDep, guarded
from halcyon.scheduling.usecases.booking import BookingRequest
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field, model_validator
from uuid6 import uuid7

router = APIRouter(tags=["waitlist"])
Id = Annotated[str, Path(pattern=ID_PATTERN)]
RESOURCE = "scheduling/waitlist"


class WaitlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(pattern=ID_PATTERN)
    site_id: str = Field(pattern=ID_PATTERN)
    appointment_type: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    clinician_id: str | None = Field(default=None, pattern=ID_PATTERN)
    not_before: date | None = None
    not_after: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> WaitlistIn:
        if self.not_before and self.not_after and self.not_after < self.not_before:
            raise ValueError("not_after is before not_before")
        return self


class WaitlistOut(BaseModel):
    id: str
    client_id: str
    site_id: str
    appointment_type: str
    clinician_id: str | None = None
    not_before: date | None = None
    not_after: date | None = None
    status: str  # waiting | offered | booked | removed
    offer: dict[str, Any] | None = None
    created_at: datetime
    appointment_id: str | None = None


def _entry(doc: Document) -> WaitlistOut:
    return WaitlistOut.model_validate({**doc, "id": doc["_id"]})


@router.post("/waitlist", status_code=status.HTTP_201_CREATED, response_model=WaitlistOut)
async def join_waitlist(
    body: WaitlistIn, caller: CurrentCaller, scheduler: SchedulerDep, audit: Audit, request: Request
) -> WaitlistOut:
    await guarded(
        caller,
        SCHEDULERS,
        body.site_id,
        audit,
        request,
        action="create",
        resource=RESOURCE,
        client_id=body.client_id,
    )
    tenant = caller.tenant_id
    if await scheduler.appointment_type(tenant, body.appointment_type) is None:
        raise RuleViolation(f"there is no appointment type {body.appointment_type!r}")
    if await scheduler.clients.get(tenant, body.client_id) is None:
        raise RuleViolation(f"client {body.client_id} is not known to scheduling (yet)")
    if await scheduler.site(tenant, body.site_id) is None:
        raise RuleViolation(f"site {body.site_id} is not known to scheduling (yet)")
    now = datetime.now(UTC)
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "status": "waiting",
        "offer": None,
        "created_at": now,
        "created_by": caller.user_id,
        "history": [{"change": "joined", "at": now}],
    }
    saved = await scheduler.waitlist.insert(tenant, doc)
    await audit.record(
        caller,
        action="create",
        resource=RESOURCE,
        resource_id=saved["_id"],
        client_id=body.client_id,
        site_id=body.site_id,
        request=request,
    )
    return _entry(saved)


@router.get("/waitlist", response_model=PageOut[WaitlistOut], summary="A site's waitlist")
async def list_waitlist(
    caller: CurrentCaller,
    scheduler: SchedulerDep,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
) -> PageOut[WaitlistOut]:
    await guarded(caller, READERS, site_id, audit, request, action="read", resource=RESOURCE)
    result = await scheduler.waitlist.page(
        caller.tenant_id, {"site_id": site_id}, limit=page.limit, cursor=page.cursor
    )
    for client in sorted({d["client_id"] for d in result.items}):
        await audit.record(
            caller,
            action="read",
            resource=RESOURCE,
            client_id=client,
            site_id=site_id,
            request=request,
        )
    return PageOut(items=[_entry(d) for d in result.items], next_cursor=result.next_cursor)


async def _load(
    scheduler: SchedulerDep,
    caller: CurrentCaller,
    audit: Audit,
    request: Request,
    entry_id: str,
    action: str,
) -> Document:
    doc = await scheduler.waitlist.get(caller.tenant_id, entry_id)
    if doc is None:
        raise NotFound(f"no waitlist entry {entry_id}")
    await guarded(
        caller,
        SCHEDULERS,
        doc["site_id"],
        audit,
        request,
        action=action,
        resource=RESOURCE,
        resource_id=entry_id,
        client_id=doc["client_id"],
    )
    await audit.record(
        caller,
        action=action,
        resource=RESOURCE,
        resource_id=entry_id,
        client_id=doc["client_id"],
        site_id=doc["site_id"],
        request=request,
    )
    return doc


@router.get("/waitlist/{entry_id}", response_model=WaitlistOut)
async def read_entry(
    entry_id: Id, caller: CurrentCaller, scheduler: SchedulerDep, audit: Audit, request: Request
) -> WaitlistOut:
    return _entry(await _load(scheduler, caller, audit, request, entry_id, "read"))


@router.post(
    "/waitlist/{entry_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentOut,
    summary="Book the slot offered to this client (before the offer expires)",
)
async def accept_offer(
    entry_id: Id, caller: CurrentCaller, scheduler: SchedulerDep, audit: Audit, request: Request
) -> AppointmentOut:
    doc = await _load(scheduler, caller, audit, request, entry_id, "update")
    offer = doc.get("offer")
    if doc["status"] != "offered" or not offer:
        raise Conflict("this entry has no open offer")
    if offer["expires_at"] <= datetime.now(UTC):
        raise Conflict("the offer has expired")
    tenant = caller.tenant_id
    plan = await scheduler.plan(
        tenant,
        BookingRequest(
            client_id=doc["client_id"],
            site_id=doc["site_id"],
            appointment_type=doc["appointment_type"],
            starts_at=offer["starts_at"],
            clinicians=tuple((c["staff_id"], c["role"]) for c in offer["clinicians"]),
            room_id=offer.get("room_id"),
        ),
    )
    # Close the offer first (conditional): two clicks on "accept" book once.
    closed = await scheduler.waitlist.update(
        tenant,
        {"_id": entry_id, "status": "offered", "offer.offer_id": offer["offer_id"]},
        {"$set": {"status": "booking"}},
    )
    if closed is None:
        raise Conflict("this offer was already taken or withdrawn")
    try:
        booked = await scheduler.book(caller, plan)
    except Exception:
        await scheduler.waitlist.update(
            tenant, {"_id": entry_id, "status": "booking"}, {"$set": {"status": "offered"}}
        )
        raise
    await scheduler.waitlist.update(
        tenant,
        {"_id": entry_id},
        {
            "$set": {"status": "booked", "appointment_id": booked["_id"]},
            "$push": {"history": {"change": "booked", "at": datetime.now(UTC)}},
        },
    )
    return _out(booked)
