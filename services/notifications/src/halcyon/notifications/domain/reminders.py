"""Appointment reminders: when they are due, and which appointment changes move or end them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Reminder kinds and how long before the appointment each is due.
REMINDER_LEADS: dict[str, timedelta] = {"24h": timedelta(hours=24), "2h": timedelta(hours=2)}

SCHEDULING_CHANGES = {"booked", "rescheduled"}
# After these the appointment will not happen (or already did): no more reminders.
ENDING_CHANGES = {"cancelled", "completed", "no_show"}


@dataclass(frozen=True)
class PlannedReminder:
    kind: str
    due_at: datetime
    # A reminder whose time already passed when the appointment was (re)booked is not
    # sent late: the confirmation just sent covers it.
    skipped: bool


def reminder_id(appointment_id: str, kind: str) -> str:
    return f"{appointment_id}:{kind}"


def plan_reminders(starts_at: datetime, now: datetime) -> list[PlannedReminder]:
    plans = []
    for kind, lead in REMINDER_LEADS.items():
        due = starts_at - lead
        plans.append(PlannedReminder(kind=kind, due_at=due, skipped=due <= now))
    return plans


def occurrence_key(reminder: str, starts_at: datetime) -> str:
    """Identifies one reminder for one start time: a moved appointment gets a new one."""
    return f"{reminder}@{starts_at.isoformat()}"
