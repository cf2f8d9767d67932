"""The staff inbox: my in-app messages; reading them and acknowledging urgent alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from halcyon.notifications.api.deps import InboxRepo, Page, Runtime
from halcyon.notifications.usecases import inbox as my_inbox
from halcyon.shared.access import Access
from halcyon.shared.errors import InvalidCursor
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut
from halcyon.shared.mongo import Document, decode_cursor, encode_cursor
from pydantic import BaseModel

router = APIRouter(tags=["inbox"])


class InboxItem(BaseModel):
    id: str
    kind: str
    severity: str
    title: str
    body: str
    client_id: str | None = None
    created_at: datetime
    read_at: datetime | None = None
    acknowledged_at: datetime | None = None


def _inbox_item(doc: Document) -> InboxItem:
    return InboxItem(
        id=doc["_id"],
        kind=doc["kind"],
        severity=doc.get("severity", "info"),
        title=doc["title"],
        body=doc["body"],
        client_id=doc.get("client_id"),
        created_at=doc["created_at"],
        read_at=doc.get("read_at"),
        acknowledged_at=doc.get("acknowledged_at"),
    )


def _newest_first(staff_id: str, unread: bool, cursor: str | None) -> dict[str, Any]:
    # Staff read only their own inbox: the owner is the token's subject, never a parameter.
    query: dict[str, Any] = {"staff_id": staff_id}
    if unread:
        query["read_at"] = None
    if cursor:
        try:
            query["_id"] = {"$lt": decode_cursor(cursor)}
        except ValueError as exc:
            raise InvalidCursor("use next_cursor from the previous page, unchanged") from exc
    return query


@router.get("/inbox", response_model=PageOut[InboxItem], summary="My in-app messages, newest first")
async def list_inbox(
    access: Access,
    inbox: InboxRepo,
    page: Page,
    unread: Annotated[bool, Query(description="only unread messages")] = False,
) -> PageOut[InboxItem]:
    caller = access.caller
    query = _newest_first(caller.user_id, unread, page.cursor)
    docs = await inbox.find(caller.tenant_id, query, sort=[("_id", -1)], limit=page.limit + 1)
    items = [_inbox_item(doc) for doc in docs[: page.limit]]
    # One audit entry per client the page shows: a client's access report must find it.
    for client_id in sorted({item.client_id for item in items if item.client_id}):
        await access.audit.record(
            caller,
            action="read",
            resource="notifications/inbox",
            client_id=client_id,
            request=access.request,
        )
    next_cursor = encode_cursor(docs[page.limit - 1]["_id"]) if len(docs) > page.limit else None
    return PageOut[InboxItem](items=items, next_cursor=next_cursor)


class UnreadCount(BaseModel):
    unread: int


@router.get("/inbox/unread-count", response_model=UnreadCount)
async def unread_count(caller: CurrentCaller, inbox: InboxRepo) -> UnreadCount:
    count = await inbox.count(caller.tenant_id, {"staff_id": caller.user_id, "read_at": None})
    return UnreadCount(unread=count)


@router.post(
    "/inbox/{item_id}/read", response_model=InboxItem, summary="Mark one of my messages read"
)
async def mark_read(item_id: str, caller: CurrentCaller, runtime: Runtime) -> InboxItem:
    return _inbox_item(await my_inbox.mark_read(runtime, caller, item_id))


@router.post(
    "/inbox/{item_id}/acknowledge",
    response_model=InboxItem,
    summary="Acknowledge an urgent alert: stops its escalation to on-call staff",
)
async def acknowledge_alert(item_id: str, access: Access, runtime: Runtime) -> InboxItem:
    doc = await my_inbox.acknowledge_alert(runtime, access.caller, item_id)
    await access.audit.record(
        access.caller,
        action="update",
        resource="notifications/alert",
        resource_id=item_id,
        client_id=doc.get("client_id"),
        request=access.request,
    )
    return _inbox_item(doc)
