"""Identity's event handlers: the access audit log, fed by every service."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from halcyon.identity.store import AccessAuditLog
from halcyon.shared.contracts.identity import AccessAudited
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.mongo import DuplicateRecord
from halcyon.shared.service import ServiceRuntime


def register(consumer: EventConsumer, runtime: ServiceRuntime) -> None:
    log = runtime.repo(AccessAuditLog)

    @consumer.handles(AccessAudited)
    async def access_audited(event: AccessAudited, delivery: Delivery) -> None:
        # Insert-only, keyed by the audit id: a redelivered event hits the unique _id and
        # changes nothing, and nothing here can overwrite an entry.
        with contextlib.suppress(DuplicateRecord):
            await log.insert(
                delivery.envelope.tenantid,
                {
                    "_id": event.audit_id,
                    **event.model_dump(),
                    "event_id": delivery.envelope.id,
                    "stored_at": datetime.now(UTC),
                },
            )
