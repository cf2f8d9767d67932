"""Inventory's read models, fed by identity, scheduling and clinical events.

Each handler upserts the whole state it was sent, keyed by the aggregate id and
guarded by the event's version (or time) so that a late, older event never
overwrites a newer one. Re-applying the same event changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import AppointmentBook, ClientDirectory, SiteDirectory, StaffDirectory
from halcyon.inventory.usecases.gating import register_gating_facts
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.scheduling import AppointmentChanged
from halcyon.shared.kafka import Delivery, EventConsumer


def register(consumer: EventConsumer, runtime: InventoryRuntime) -> None:
    sites = runtime.repo(SiteDirectory)
    staff = runtime.repo(StaffDirectory)
    appointments = runtime.repo(AppointmentBook)
    clients = runtime.repo(ClientDirectory)
    register_gating_facts(consumer, runtime)

    @consumer.handles(SiteChanged)
    async def site_changed(event: SiteChanged, delivery: Delivery) -> None:
        state = event.model_dump(mode="json", exclude={"site_id"})
        await sites.project(
            delivery.envelope.tenantid,
            event.site_id,
            state,
            order_field="event_time",
            order_value=_time(delivery),
        )

    @consumer.handles(StaffMemberChanged)
    async def staff_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        state = event.model_dump(mode="json", exclude={"staff_id", "licences"})
        await staff.project(
            delivery.envelope.tenantid,
            event.staff_id,
            state,
            order_field="event_time",
            order_value=_time(delivery),
        )

    @consumer.handles(AppointmentChanged)
    async def appointment_changed(event: AppointmentChanged, delivery: Delivery) -> None:
        state = event.model_dump(mode="json", exclude={"appointment_id", "version"})
        await appointments.project(
            delivery.envelope.tenantid,
            event.appointment_id,
            state,
            order_field="version",
            order_value=event.version,
        )

    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        # Only what a dispensing record needs (21 CFR 1304.22(c)): name and address.
        address = event.address.model_dump(mode="json") if event.address else None
        state = {
            "given_name": event.given_name,
            "family_name": event.family_name,
            "home_site_id": event.home_site_id,
            "address": address,
        }
        await clients.project(
            delivery.envelope.tenantid,
            event.client_id,
            state,
            order_field="event_time",
            order_value=_time(delivery),
        )


def _time(delivery: Delivery) -> datetime:
    return delivery.envelope.time
