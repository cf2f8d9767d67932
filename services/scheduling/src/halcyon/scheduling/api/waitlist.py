"""Waitlist: clients waiting for a type (or a clinician); freed slots are offered in order."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from halcyon.scheduling.api.appointments import AppointmentOut, _out
from halcyon.scheduling.api.common import ID_PATTERN, READERS, SCHEDULERS, audit_read_of_clients
from halcyon.scheduling.api.deps import SchedulerDep
from halcyon.scheduling.usecases import waitlist
from halcyon.shared.access import Access, RecordAccess
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, as_record
from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    def request(self) -> waitlist.WaitlistRequest:
        return waitlist.WaitlistRequest(**self.model_dump())


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
    return WaitlistOut.model_validate(as_record(doc))


@router.post("/waitlist", status_code=status.HTTP_201_CREATED, response_model=WaitlistOut)
async def join_waitlist(body: WaitlistIn, access: Access, scheduler: SchedulerDep) -> WaitlistOut:
    await access.require(
        SCHEDULERS, body.site_id, action="create", resource=RESOURCE, client_id=body.client_id
    )
    saved = await waitlist.join_waitlist(scheduler, access.caller, body.request())
    await _audit(access, saved, "create")
    return _entry(saved)


@router.get("/waitlist", response_model=PageOut[WaitlistOut], summary="A site's waitlist")
async def list_waitlist(
    access: Access,
    scheduler: SchedulerDep,
    page: Annotated[PageParams, Depends(page_params)],
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
) -> PageOut[WaitlistOut]:
    await access.require(READERS, site_id, action="read", resource=RESOURCE)
    result = await scheduler.waitlist.page(
        access.tenant_id, {"site_id": site_id}, limit=page.limit, cursor=page.cursor
    )
    clients = {d["client_id"] for d in result.items}
    await audit_read_of_clients(access, clients, resource=RESOURCE, site_id=site_id)
    return PageOut(items=[_entry(d) for d in result.items], next_cursor=result.next_cursor)


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


async def _load(
    access: RecordAccess, scheduler: SchedulerDep, entry_id: str, action: str
) -> Document:
    """The entry, if the caller may act on it; the access itself is audited."""
    doc = await access.open(
        scheduler.waitlist,
        entry_id,
        SCHEDULERS,
        action=action,
        resource=RESOURCE,
        what="waitlist entry",
    )
    await _audit(access, doc, action)
    return doc


@router.get("/waitlist/{entry_id}", response_model=WaitlistOut)
async def read_entry(entry_id: Id, access: Access, scheduler: SchedulerDep) -> WaitlistOut:
    return _entry(await _load(access, scheduler, entry_id, "read"))


@router.post(
    "/waitlist/{entry_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentOut,
    summary="Book the slot offered to this client (before the offer expires)",
)
async def accept_offer(entry_id: Id, access: Access, scheduler: SchedulerDep) -> AppointmentOut:
    entry = await _load(access, scheduler, entry_id, "update")
    return _out(await waitlist.accept_offer(scheduler, access.caller, entry))
