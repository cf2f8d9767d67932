"""Events the scheduling service publishes: every appointment status change."""

from __future__ import annotations

from datetime import datetime

from halcyon.shared.contracts import EventContract
from pydantic import BaseModel


class AppointmentClinician(BaseModel):
    staff_id: str
    role: str


class AppointmentChanged(EventContract):
    """An appointment was booked, rescheduled, cancelled, checked in, started, completed
    or marked no-show. Carries the whole appointment so read models need nothing else."""

    event_type = "halcyon.scheduling.appointment.changed.v1"
    topic = "scheduling.appointment.v1"
    subject_field = "appointment_id"

    appointment_id: str
    change: str  # booked | rescheduled | cancelled | checked_in | started | completed | no_show
    status: str
    client_id: str
    site_id: str
    site_timezone: str
    appointment_type: str  # e.g. intake, psychotherapy, mdma_preparation, mdma_dosing
    protocol_id: str | None = None
    starts_at: datetime
    ends_at: datetime
    clinicians: list[AppointmentClinician]
    room_id: str | None = None
    telehealth: bool = False
    cancel_reason: str | None = None
    late_cancel: bool = False
    series_id: str | None = None
    version: int = 1
    # Optional additions (same major version): the protocol step ("preparation", "dosing",
    # "integration") for inventory and billing, the video link of a telehealth session for
    # reminders, and the start before a reschedule.
    protocol_step: str | None = None
    video_link: str | None = None
    previous_starts_at: datetime | None = None


class WaitlistOfferMade(EventContract):
    """A freed slot was offered to the first suitable client on the waitlist."""

    event_type = "halcyon.scheduling.waitlist.offer_made.v1"
    topic = "scheduling.waitlist.v1"
    subject_field = "offer_id"

    offer_id: str
    client_id: str
    site_id: str
    site_timezone: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime
