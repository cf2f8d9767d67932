"""Read models fed by other contexts: staff and sites (identity), dispensed doses
(inventory), appointments (scheduling)."""

from __future__ import annotations

import contextlib

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
from halcyon.shared.mongo import DuplicateRecord


def register(consumer: EventConsumer, runtime: ClinicalRuntime) -> None:
    staff = runtime.repo(StaffDirectory)
    doses = runtime.repo(DispensedDoses)
    sites = runtime.repo(SiteDirectory)
    appointments = runtime.repo(AppointmentDirectory)

    @consumer.handles(AppointmentChanged)
    async def appointment_changed(event: AppointmentChanged, delivery: Delivery) -> None:
        state = event.model_dump(exclude={"appointment_id", "version"})
        state["updated_at"] = delivery.envelope.time
        with contextlib.suppress(DuplicateRecord):  # a newer version is already here
            await appointments.update(
                delivery.envelope.tenantid,
                {"_id": event.appointment_id, "version": {"$lte": event.version}},
                {"$set": {**state, "version": event.version}},
                upsert=True,
            )

    @consumer.handles(SiteChanged)
    async def site_changed(event: SiteChanged, delivery: Delivery) -> None:
        at = delivery.envelope.time
        with contextlib.suppress(DuplicateRecord):  # a newer state is already here
            await sites.update(
                delivery.envelope.tenantid,
                {
                    "_id": event.site_id,
                    "$or": [{"source_time": {"$lt": at}}, {"source_time": {"$exists": False}}],
                },
                {
                    "$set": {
                        "name": event.name,
                        "timezone": event.timezone,
                        "active": event.active,
                        "source_time": at,
                    }
                },
                upsert=True,
            )

    @consumer.handles(StaffMemberChanged)
    async def staff_member_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        # The whole personnel file each time (state transfer). Apply only if newer than
        # what we hold, so a late redelivery never rolls a staff member back.
        at = delivery.envelope.time
        # DuplicateRecord: a newer file is already here and the upsert's insert collided.
        with contextlib.suppress(DuplicateRecord):
            await staff.update(
                delivery.envelope.tenantid,
                {
                    "_id": event.staff_id,
                    "$or": [{"source_time": {"$lt": at}}, {"source_time": {"$exists": False}}],
                },
                {
                    "$set": {
                        "display_name": event.display_name,
                        "roles": event.roles,
                        "licences": [x.model_dump(mode="json") for x in event.licences],
                        "npi": event.npi,
                        "supervisor_id": event.supervisor_id,
                        "active": event.active,
                        "source_time": at,
                        "source_event_id": delivery.envelope.id,
                    }
                },
                upsert=True,
            )

    @consumer.handles(DoseDispensed)
    async def dose_dispensed(event: DoseDispensed, delivery: Delivery) -> None:
        # Kept beside the notes, never inside one: a signed dosing note stays untouched
        # when a dispense event arrives late; the note view joins them.
        await doses.update(
            delivery.envelope.tenantid,
            {"_id": event.ledger_entry_id},
            {"$set": {**event.model_dump(), "source_event_id": delivery.envelope.id}},
            upsert=True,
        )
