"""Scheduling's event handlers: read models fed by other contexts."""

from __future__ import annotations

from halcyon.scheduling.store import ClientDirectory
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.service import ServiceRuntime


def register(consumer: EventConsumer, runtime: ServiceRuntime) -> None:
    clients = runtime.repo(ClientDirectory)

    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        # Upsert keyed by client id: applying the same event again changes nothing.
        await clients.update(
            delivery.envelope.tenantid,
            {"_id": event.client_id},
            {
                "$set": {
                    "home_site_id": event.home_site_id,
                    "display_name": f"{event.given_name} {event.family_name}",
                    "date_of_birth": event.date_of_birth.isoformat(),
                    "preferred_language": event.preferred_language,
                    "source_event_id": delivery.envelope.id,
                }
            },
            upsert=True,
        )
