"""A client's message preferences: set by staff, or by the client themselves (the
unsubscribe link, a STOP or START reply). Every change is kept in their history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from halcyon.notifications.domain.consent import reply_path
from halcyon.notifications.store import ClientContacts, ClientPreferencesStore
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document
from starlette.requests import Request

if TYPE_CHECKING:
    from halcyon.notifications.parts import NotificationsRuntime


async def set_client_preferences(
    runtime: NotificationsRuntime, caller: Caller, contact: Document, values: dict[str, Any]
) -> Document | None:
    """Staff set a client's channel, quiet hours, opt-out and detail opt-in."""
    client_id = contact["_id"]
    channel = values.get("channel")
    if channel and not contact.get("phone" if channel == "sms" else "email"):
        raise RuleViolation(f"client {client_id} has no {channel} address on file")
    entry = {"at": runtime.parts.clock.now(), "by": caller.user_id, "via": "staff", **values}
    return await runtime.repo(ClientPreferencesStore).update(
        caller.tenant_id,
        {"_id": client_id},
        {"$set": values, "$push": {"history": entry}},
        upsert=True,
    )


async def opt_out(
    runtime: NotificationsRuntime,
    tenant: str,
    client_id: str,
    via: str,
    request: Request | None,
    *,
    opted_out: bool = True,
) -> None:
    """The client opted out (or back in) themselves."""
    now = runtime.parts.clock.now()
    entry = {"at": now, "by": f"client:{client_id}", "via": via, "opted_out": opted_out}
    await runtime.repo(ClientPreferencesStore).update(
        tenant,
        {"_id": client_id},
        {"$set": {"opted_out": opted_out}, "$push": {"history": entry}},
        upsert=True,
    )
    # The client acted, not a staff member: audited under a service identity naming the path.
    actor = Caller(user_id=f"service:notifications:{via}", tenant_id=tenant)
    await runtime.audit.record(
        actor,
        action="update",
        resource="notifications/client-opt-out",
        resource_id=client_id,
        client_id=client_id,
        request=request,
    )


async def reply_by_sms(
    runtime: NotificationsRuntime, phone: str, opted_out: bool, request: Request | None
) -> int:
    """STOP applies to the number it was sent to, which every agency here shares (carrier
    rules): opt the phone out (or back in) in every agency that has it."""
    cursor = runtime.database[ClientContacts.collection_name].find(
        {"phone": phone}, projection={"_id": 1, "tenant_id": 1}
    )
    found = [doc async for doc in cursor]
    for doc in found:
        await opt_out(
            runtime,
            doc["tenant_id"],
            doc["_id"],
            reply_path(opted_out),
            request,
            opted_out=opted_out,
        )
    return len(found)
