"""Read models fed by other contexts: staff and sites (identity), dispensed doses
(inventory), appointments (scheduling), each through ``TenantRepository.project``."""

from __future__ import annotations

from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import (
    AppointmentDirectory,
    DispensedDoses,
    SiteDirectory,
    StaffDirectory,
)
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.inventory import DoseDispensed
from halcyon.shared.contracts.scheduling import AppointmentChanged
from halcyon.shared.kafka import Delivery, EventConsumer


def register(consumer: EventConsumer, runtime: ClinicalRuntime) -> None:
    staff = runtime.repo(StaffDirectory)
    doses = runtime.repo(DispensedDoses)
    sites = runtime.repo(SiteDirectory)
    appointments = runtime.repo(AppointmentDirectory)

    @consumer.handles(AppointmentChanged)
    async def appointment_changed(event: AppointmentChanged, delivery: Delivery) -> None:
        state = event.model_dump(exclude={"appointment_id", "version"})
        state["updated_at"] = delivery.envelope.time
        await appointments.project(
            delivery.envelope.tenantid,
            event.appointment_id,
            state,
            order_field="version",
            order_value=event.version,
        )

    @consumer.handles(SiteChanged)
    async def site_changed(event: SiteChanged, delivery: Delivery) -> None:
        await sites.project(
            delivery.envelope.tenantid,
            event.site_id,
            {"name": event.name, "timezone": event.timezone, "active": event.active},
            order_field="source_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(StaffMemberChanged)
    async def staff_member_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        # The whole personnel file each time (state transfer); a late redelivery never
        # rolls a staff member back.
        await staff.project(
            delivery.envelope.tenantid,
            event.staff_id,
            {
                "display_name": event.display_name,
                "roles": event.roles,
                "licences": [x.model_dump(mode="json") for x in event.licences],
                "npi": event.npi,
                "supervisor_id": event.supervisor_id,
                "active": event.active,
                "source_event_id": delivery.envelope.id,
            },
            order_field="source_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(DoseDispensed)
    async def dose_dispensed(event: DoseDispensed, delivery: Delivery) -> None:
        # Kept beside the notes, never inside one: a signed dosing note stays untouched
        # when a dispense event arrives late; the note view joins them.
        await doses.project(
            delivery.envelope.tenantid,
            event.ledger_entry_id,
            {**event.model_dump(), "source_event_id": delivery.envelope.id},
            order_field="event_time",
            order_value=delivery.envelope.time,
        )
