"""Route an urgent alert to the session's clinicians, escalate it when nobody answers,
and record who acknowledged it (issue 18, item 7)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from halcyon.notifications.domain.escalation import (
    escalation_due,
    escalation_minutes,
    escalation_targets,
    first_recipients,
    live_session,
)
from halcyon.notifications.store import AlertEscalations, Sessions
from halcyon.notifications.usecases.notifier import Notifier
from halcyon.shared.contracts.scheduling import AppointmentChanged
from halcyon.shared.mongo import Document, DuplicateRecord

if TYPE_CHECKING:
    from halcyon.notifications.parts import NotificationsRuntime

log = logging.getLogger("halcyon.notifications.alerts")


class NoOneToTell(Exception):
    """An urgent alert found nobody to receive it (the staff directory is still empty):
    raised so the consumer retries and, failing that, dead-letters it visibly."""


async def remember_session(
    runtime: NotificationsRuntime, tenant: str, event: AppointmentChanged
) -> None:
    """Who is in which session now (newest version wins; a redelivery changes nothing)."""
    sessions = runtime.repo(Sessions)
    with contextlib.suppress(DuplicateRecord):  # a newer version is already held
        await sessions.update(
            tenant,
            {"_id": event.appointment_id, "version": {"$lte": event.version}},
            {
                "$set": {
                    "client_id": event.client_id,
                    "site_id": event.site_id,
                    "status": event.status,
                    "protocol_id": event.protocol_id,
                    "starts_at": event.starts_at,
                    "clinician_ids": event.present_staff_ids
                    or [c.staff_id for c in event.clinicians],
                    "version": event.version,
                }
            },
            upsert=True,
        )


async def raise_urgent(
    runtime: NotificationsRuntime,
    notifier: Notifier,
    tenant: str,
    *,
    cause_id: str,
    kind: str,
    alert_id: str,
    client_id: str,
    site_id: str,
    context: dict[str, Any],
) -> None:
    staff = await notifier.staff_members(tenant)
    found = await runtime.repo(Sessions).find(tenant, {"client_id": client_id}, limit=50)
    session = live_session(found, site_id)
    recipients, arm = first_recipients(staff, session, site_id)
    if not recipients:
        raise NoOneToTell(f"no on-call clinician or admin known for site {site_id}")
    if arm and session is not None:
        now = notifier.clock.now()
        minutes = escalation_minutes(session)
        # The same alert redelivered: armed already.
        with contextlib.suppress(DuplicateRecord):
            await runtime.repo(AlertEscalations).insert(
                tenant,
                {
                    "_id": alert_id,
                    "kind": kind,
                    "client_id": client_id,
                    "site_id": site_id,
                    "appointment_id": session["_id"],
                    "team": [m.staff_id for m in recipients],
                    "context": context,
                    "raised_at": now,
                    "due_at": escalation_due(now, minutes),
                    "minutes": minutes,
                    "status": "waiting",
                },
            )
    await notifier.notify_staff(
        tenant,
        cause_id=cause_id,
        kind=kind,
        recipients=recipients,
        context=context,
        severity="urgent",
        client_id=client_id,
    )


async def acknowledge(
    runtime: NotificationsRuntime, tenant: str, staff_id: str, client_id: str | None, at: Any
) -> int:
    """A team member acknowledged an urgent alert about the client: every waiting
    escalation of that client they were told about stops; who and when is kept."""
    if client_id is None:
        return 0
    escalations = runtime.repo(AlertEscalations)
    stopped = 0
    for doc in await escalations.find(
        tenant, {"client_id": client_id, "status": "waiting", "team": staff_id}, limit=50
    ):
        done = await escalations.update(
            tenant,
            {"_id": doc["_id"], "status": "waiting"},
            {
                "$set": {
                    "status": "acknowledged",
                    "acknowledged_by": staff_id,
                    "acknowledged_at": at,
                }
            },
        )
        stopped += done is not None
    return stopped


async def escalate_due(runtime: NotificationsRuntime, notifier: Notifier) -> int:
    """Tell on-call staff of every alert its session's team left unacknowledged."""
    now = notifier.clock.now()
    # Across agencies on purpose (the worker serves every tenant); writes are scoped.
    cursor = runtime.database[AlertEscalations.collection_name].find(
        {"status": "waiting", "due_at": {"$lte": now}}, limit=50
    )
    escalated = 0
    for doc in [d async for d in cursor]:
        tenant = doc["tenant_id"]
        claimed: Document | None = await runtime.repo(AlertEscalations).update(
            tenant,
            {"_id": doc["_id"], "status": "waiting"},
            {"$set": {"status": "escalated", "escalated_at": now}},
        )
        if claimed is None:
            continue  # acknowledged (or escalated by another instance) meanwhile
        staff = await notifier.staff_members(tenant)
        targets = escalation_targets(staff, doc["site_id"], doc["team"])
        await notifier.notify_staff(
            tenant,
            cause_id=f"escalation:{doc['_id']}",
            kind=doc["kind"],
            recipients=targets,
            context={**doc["context"], "escalated_after_minutes": doc["minutes"]},
            severity="urgent",
            client_id=doc["client_id"],
        )
        escalated += 1
        log.warning("alert %s escalated to on-call staff after %d min", doc["_id"], doc["minutes"])
    return escalated
