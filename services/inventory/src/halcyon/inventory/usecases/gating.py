"""Gate a dose against its protocol's conditions as inventory's read models hold them
now (docs/adr/0403), and keep those read models fed from clinical's events."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from fastapi import Request
from halcyon.inventory.domain.gating import FINAL_CONSENT_STATUSES, dose_conditions
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import ClientConsents, ClientScreenings
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.clinical import ConsentChanged, ScreeningCompleted
from halcyon.shared.errors import RuleViolation
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.mongo import DuplicateRecord
from halcyon.shared.protocol_floors import floor_of


class DoseRefused(RuleViolation):
    slug, title = "dose-refused", "The dose's protocol conditions do not hold now"


async def require_dose_conditions(
    runtime: InventoryRuntime,
    caller: Caller,
    appointment: dict[str, Any],
    at: datetime,
    audit: AuditTrail,
    request: Request | None,
) -> None:
    """Raise ``DoseRefused`` naming every failed condition (the refusal is audited: it
    discloses the client's consent and screening standing)."""
    floor = floor_of(appointment.get("protocol_id"))
    if floor is None:
        return  # no protocol: the dose rules refuse it with their own reason
    tenant, client_id = caller.tenant_id, appointment["client_id"]
    consents = await runtime.repo(ClientConsents).find(tenant, {"client_id": client_id})
    screenings = await runtime.repo(ClientScreenings).find(tenant, {"client_id": client_id})
    failed = dose_conditions(floor, appointment, consents, screenings, at)
    if not failed:
        return
    await audit.record(
        caller,
        action="create",
        resource="inventory/dispense",
        client_id=client_id,
        site_id=appointment.get("site_id"),
        outcome="failed",
        reason=", ".join(f.code for f in failed),
        request=request,
    )
    raise DoseRefused(
        "the dose was refused: " + "; ".join(f.detail for f in failed),
        failed_conditions=[f.as_dict() for f in failed],
    )


def register_gating_facts(consumer: EventConsumer, runtime: InventoryRuntime) -> None:
    """Read models of clinical's consents and screenings (latest state per id)."""
    consents = runtime.repo(ClientConsents)
    screenings = runtime.repo(ClientScreenings)

    @consumer.handles(ConsentChanged)
    async def consent_changed(event: ConsentChanged, delivery: Delivery) -> None:
        # DuplicateRecord: the consent is already revoked; the upsert found nothing it may
        # replace and tried to insert a second document with the same id.
        with contextlib.suppress(DuplicateRecord):
            await consents.update(
                delivery.envelope.tenantid,
                {"_id": event.consent_id, "status": {"$nin": list(FINAL_CONSENT_STATUSES)}},
                {
                    "$set": {
                        **event.model_dump(exclude={"consent_id"}),
                        "source": delivery.envelope.id,
                    }
                },
                upsert=True,
            )

    @consumer.handles(ScreeningCompleted)
    async def screening_completed(event: ScreeningCompleted, delivery: Delivery) -> None:
        await screenings.project(
            delivery.envelope.tenantid,
            event.screening_id,
            {
                **event.model_dump(exclude={"screening_id"}),
                "source": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )
