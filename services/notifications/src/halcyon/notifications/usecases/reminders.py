"""Appointment reminders follow the appointment: planned when it is booked or moved,
cancelled when it ends. Only a change at least as new as what is held moves them."""

from __future__ import annotations

import contextlib
from datetime import datetime

from halcyon.notifications.domain.reminders import REMINDER_LEADS, plan_reminders, reminder_id
from halcyon.notifications.store import Reminders
from halcyon.shared.contracts.scheduling import AppointmentChanged
from halcyon.shared.mongo import DuplicateRecord


async def schedule_reminders(
    reminders: Reminders, tenant: str, event: AppointmentChanged, now: datetime
) -> None:
    for plan in plan_reminders(event.starts_at, now):
        rid = reminder_id(event.appointment_id, plan.kind)
        existing = await reminders.get(tenant, rid)
        if (
            existing
            and existing["starts_at"] == event.starts_at
            and existing["status"] != "cancelled"
        ):
            continue  # same time as already planned (a redelivery): keep its state
        # A newer version of this appointment already held: the upsert collides, skip.
        with contextlib.suppress(DuplicateRecord):
            await reminders.update(
                tenant,
                # Only a change at least as new as what we hold moves the reminder.
                {"_id": rid, "appointment_version": {"$lte": event.version}},
                {
                    "$set": {
                        "appointment_id": event.appointment_id,
                        "client_id": event.client_id,
                        "kind": plan.kind,
                        "due_at": plan.due_at,
                        "starts_at": event.starts_at,
                        "site_id": event.site_id,
                        "site_timezone": event.site_timezone,
                        "appointment_type": event.appointment_type,
                        "appointment_version": event.version,
                        "status": "skipped" if plan.skipped else "scheduled",
                    }
                },
                upsert=True,
            )


async def end_reminders(reminders: Reminders, tenant: str, event: AppointmentChanged) -> None:
    for kind in REMINDER_LEADS:
        await reminders.update(
            tenant,
            {
                "_id": reminder_id(event.appointment_id, kind),
                "appointment_version": {"$lte": event.version},
            },
            {
                "$set": {
                    "status": "cancelled",
                    "ended_by": event.change,
                    "appointment_version": event.version,
                }
            },
        )
