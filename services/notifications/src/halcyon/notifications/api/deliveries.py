"""Operations: messages and their status, dead letters, an appointment's reminders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from halcyon.notifications.api.common import ADMINS, paged
from halcyon.notifications.api.deps import DeadRepo, DeliveriesRepo, Page, RemindersRepo
from halcyon.shared.access import Access
from halcyon.shared.http.pagination import PageOut
from halcyon.shared.mongo import Document
from pydantic import BaseModel

router = APIRouter()
REMINDER_READERS = frozenset({"front_desk", "agency_admin"})
REMINDERS = "notifications/reminders"
DeliveryStatus = Literal[
    "queued", "sending", "sent", "delivered", "failed", "dead", "suppressed", "withdrawn"
]


class DeliveryOut(BaseModel):
    id: str
    rule: str
    channel: str
    status: str
    recipient_kind: str
    recipient_id: str
    attempts: int
    subject: str = ""
    text: str = ""
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    reason: str | None = None
    deferred_for_quiet_hours: bool = False


def _delivery_out(doc: Document) -> DeliveryOut:
    return DeliveryOut(
        id=doc["_id"],
        rule=doc["rule"],
        channel=doc["channel"],
        status=doc["status"],
        recipient_kind=doc["recipient_kind"],
        recipient_id=doc["recipient_id"],
        attempts=doc.get("attempts", 0),
        subject=doc.get("subject", ""),
        text=doc.get("text", ""),
        created_at=doc["created_at"],
        next_attempt_at=doc.get("next_attempt_at"),
        last_error=doc.get("last_error"),
        reason=doc.get("reason"),
        deferred_for_quiet_hours=bool(doc.get("deferred_for_quiet_hours")),
    )


@router.get(
    "/deliveries",
    tags=["deliveries"],
    response_model=PageOut[DeliveryOut],
    summary="Messages and their status (agency admins)",
)
async def list_deliveries(
    access: Access,
    deliveries: DeliveriesRepo,
    page: Page,
    recipient_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> PageOut[DeliveryOut]:
    resource = "notifications/deliveries"
    await access.require(ADMINS, None, action="read", resource=resource)
    query: dict[str, Any] = {}
    if recipient_id:
        query["recipient_id"] = recipient_id
    if status:
        query["status"] = status
    found = await paged(
        deliveries.page(access.tenant_id, query, limit=page.limit, cursor=page.cursor)
    )
    # Deliveries to a client carry their address and message: a read of client data.
    client_ids = {d["recipient_id"] for d in found.items if d["recipient_kind"] == "client"}
    await access.audit.record(
        access.caller,
        action="read",
        resource=resource,
        resource_id=recipient_id,
        client_id=next(iter(client_ids)) if len(client_ids) == 1 else None,
        request=access.request,
    )
    items = [_delivery_out(d) for d in found.items]
    return PageOut[DeliveryOut](items=items, next_cursor=found.next_cursor)


class DeadDeliveryOut(BaseModel):
    id: str
    channel: str
    recipient_kind: str
    recipient_id: str
    rule: str
    attempts: int
    last_error: str | None = None
    dead_at: datetime


@router.get(
    "/dead-deliveries",
    tags=["deliveries"],
    response_model=PageOut[DeadDeliveryOut],
    summary="Messages that failed every attempt (agency admins)",
)
async def list_dead(access: Access, dead: DeadRepo, page: Page) -> PageOut[DeadDeliveryOut]:
    await access.require(ADMINS, None, action="read", resource="notifications/dead-deliveries")
    found = await paged(dead.page(access.tenant_id, {}, limit=page.limit, cursor=page.cursor))
    fields = [k for k in DeadDeliveryOut.model_fields if k != "id"]
    return PageOut[DeadDeliveryOut](
        items=[DeadDeliveryOut(id=d["_id"], **{k: d.get(k) for k in fields}) for d in found.items],
        next_cursor=found.next_cursor,
    )


class ReminderOut(BaseModel):
    id: str
    appointment_id: str
    kind: str
    status: str
    due_at: datetime
    starts_at: datetime


def _reminder_out(doc: Document) -> ReminderOut:
    return ReminderOut(
        id=doc["_id"],
        appointment_id=doc["appointment_id"],
        kind=doc["kind"],
        status=doc["status"],
        due_at=doc["due_at"],
        starts_at=doc["starts_at"],
    )


@router.get(
    "/appointments/{appointment_id}/reminders", tags=["reminders"], response_model=list[ReminderOut]
)
async def appointment_reminders(
    appointment_id: str, access: Access, reminders: RemindersRepo
) -> list[ReminderOut]:
    docs = await reminders.find(access.tenant_id, {"appointment_id": appointment_id})
    if not docs:
        # Reminders are kept after sending and cancelling: none means no such appointment
        # in this agency (another agency's id included), not an empty list.
        raise await access.missing(
            "appointment with reminders", appointment_id, action="read", resource="reminders",
            resource_id=appointment_id,
        )  # fmt: skip
    # One appointment: one site, one client, one audit entry.
    site_id, client_id = docs[0].get("site_id"), docs[0].get("client_id")
    await access.require(
        REMINDER_READERS,
        site_id,
        action="read",
        resource=REMINDERS,
        resource_id=appointment_id,
        client_id=client_id,
    )
    await access.audit.record(
        access.caller,
        action="read",
        resource=REMINDERS,
        resource_id=appointment_id,
        client_id=client_id,
        site_id=site_id,
        request=access.request,
    )
    return [_reminder_out(d) for d in docs]
