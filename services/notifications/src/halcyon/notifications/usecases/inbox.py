"""A staff member's own inbox: read, and acknowledge urgent alerts (which stops their
escalation to on-call staff). Someone else's message is indistinguishable from none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from halcyon.notifications.store import Inbox
from halcyon.notifications.usecases.alerts import acknowledge
from halcyon.shared.auth import Caller
from halcyon.shared.errors import NotFound
from halcyon.shared.mongo import Document

if TYPE_CHECKING:
    from halcyon.notifications.parts import NotificationsRuntime


async def my_message(inbox: Inbox, caller: Caller, item_id: str) -> Document:
    doc = await inbox.get(caller.tenant_id, item_id)
    if doc is None or doc["staff_id"] != caller.user_id:
        # Someone else's message is indistinguishable from none (no probing of ids).
        raise NotFound(f"no message {item_id} in your inbox")
    return doc


async def mark_read(runtime: NotificationsRuntime, caller: Caller, item_id: str) -> Document:
    inbox = runtime.repo(Inbox)
    doc = await my_message(inbox, caller, item_id)
    if doc.get("read_at") is not None:
        return doc
    updated = await inbox.update(
        caller.tenant_id,
        {"_id": item_id, "staff_id": caller.user_id},
        {"$set": {"read_at": runtime.parts.clock.now()}},
    )
    return updated or doc


async def acknowledge_alert(
    runtime: NotificationsRuntime, caller: Caller, item_id: str
) -> Document:
    inbox = runtime.repo(Inbox)
    doc = await my_message(inbox, caller, item_id)
    now = runtime.parts.clock.now()
    if doc.get("acknowledged_at") is None:
        doc = (
            await inbox.update(
                caller.tenant_id,
                {"_id": item_id, "staff_id": caller.user_id},
                {"$set": {"acknowledged_at": now, "read_at": doc.get("read_at") or now}},
            )
            or doc
        )
    await acknowledge(runtime, caller.tenant_id, caller.user_id, doc.get("client_id"), now)
    return doc
