"""Billing's event handlers: the client read model and charge capture."""

from __future__ import annotations

from halcyon.billing.capture import ChargeCapture
from halcyon.billing.store import ClientDirectory, StaffDirectory
from halcyon.shared.contracts.clinical import (
    ClientDetailsChanged,
    ClientRegistered,
    EncounterSigned,
)
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.service import ServiceRuntime


def register(consumer: EventConsumer, runtime: ServiceRuntime) -> None:
    clients = runtime.repo(ClientDirectory)
    capture = ChargeCapture(runtime)
    staff = runtime.repo(StaffDirectory)

    @consumer.handles(StaffMemberChanged)
    async def staff_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        # Rendering providers on claims need a name next to the NPI (2310B/2420A NM1*82).
        await staff.update(
            delivery.envelope.tenantid,
            {"_id": event.staff_id},
            {"$set": {"display_name": event.display_name, "npi": event.npi}},
            upsert=True,
        )

    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        # Upsert keyed by client id: applying the same event again changes nothing.
        await clients.update(
            delivery.envelope.tenantid,
            {"_id": event.client_id},
            {
                "$set": {
                    "home_site_id": event.home_site_id,
                    "given_name": event.given_name,
                    "family_name": event.family_name,
                    "date_of_birth": event.date_of_birth.isoformat(),
                    "address": event.address.model_dump() if event.address else None,
                    "source_event_id": delivery.envelope.id,
                }
            },
            upsert=True,
        )

    @consumer.handles(ClientDetailsChanged)
    async def client_details_changed(event: ClientDetailsChanged, delivery: Delivery) -> None:
        # Statements and claims carry the client's current name, date of birth and address.
        await clients.update(
            delivery.envelope.tenantid,
            {"_id": event.client_id},
            {
                "$set": {
                    "home_site_id": event.home_site_id,
                    "given_name": event.given_name,
                    "family_name": event.family_name,
                    "date_of_birth": event.date_of_birth.isoformat(),
                    "address": event.address.model_dump() if event.address else None,
                    "source_event_id": delivery.envelope.id,
                }
            },
            upsert=True,
        )

    @consumer.handles(EncounterSigned)
    async def encounter_signed(event: EncounterSigned, delivery: Delivery) -> None:
        await capture.capture(delivery.envelope.tenantid, event, delivery.envelope.id)
