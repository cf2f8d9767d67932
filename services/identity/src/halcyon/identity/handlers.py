"""Identity's event handlers: the access audit log, fed by every service, and the
anchors of inventory's ledger chains."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from halcyon.identity.runtime import IdentityRuntime
from halcyon.identity.store import (
    AccessAuditLog,
    BreakTheGlassRepository,
    ClientDirectory,
    LedgerAnchorLog,
)
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.contracts.identity import AccessAudited
from halcyon.shared.contracts.inventory import LedgerAnchored
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.mongo import DuplicateRecord


def register(consumer: EventConsumer, runtime: IdentityRuntime) -> None:
    log = runtime.repo(AccessAuditLog)
    grants = runtime.repo(BreakTheGlassRepository)
    anchors = runtime.repo(LedgerAnchorLog)
    clients = runtime.repo(ClientDirectory)

    @consumer.handles(LedgerAnchored)
    async def ledger_anchored(event: LedgerAnchored, delivery: Delivery) -> None:
        # Insert-only, keyed by the anchor id: a checkpoint of inventory's ledger kept
        # where inventory's database administrator cannot reach it (ADR 0503).
        entry = {
            "_id": event.anchor_id,
            **event.model_dump(),
            "event_id": delivery.envelope.id,
            "stored_at": datetime.now(UTC),
        }
        with contextlib.suppress(DuplicateRecord):
            await anchors.insert(delivery.envelope.tenantid, entry)

    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        # Only the id: identity needs to know the client is this agency's, nothing more.
        await clients.project(
            delivery.envelope.tenantid,
            event.client_id,
            {"registered_at": delivery.envelope.time},
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(AccessAudited)
    async def access_audited(event: AccessAudited, delivery: Delivery) -> None:
        # Insert-only, keyed by the audit id: a redelivered event hits the unique _id and
        # changes nothing, and nothing here can overwrite an entry.
        tenant_id = delivery.envelope.tenantid
        entry = {
            "_id": event.audit_id,
            **event.model_dump(),
            "event_id": delivery.envelope.id,
            "stored_at": datetime.now(UTC),
        }
        if event.break_the_glass and event.client_id:
            # Link an emergency access to the grant that allowed it, so the reviewer sees
            # the justification next to every read it covered (services only see the token).
            latest = await grants.find(
                tenant_id,
                {"user_id": event.user_id, "client_id": event.client_id},
                sort=(("_id", -1),),
                limit=1,
            )
            if latest:
                entry["grant_id"] = latest[0]["_id"]
                entry["break_the_glass_reason"] = latest[0]["reason"]
        with contextlib.suppress(DuplicateRecord):
            await log.insert(tenant_id, entry)
