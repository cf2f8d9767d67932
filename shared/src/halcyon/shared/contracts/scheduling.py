"""Events the scheduling service publishes: every appointment status change, and
dosing sessions flagged when their protocol conditions stop holding."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

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
    example: ClassVar[dict[str, Any]] = {
        "appointment_id": "019cafa6-cc30-7107-96b1-0b70f2e5fcee",
        "change": "rescheduled",
        "status": "booked",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "site_timezone": "America/Denver",
        "appointment_type": "mdma_dosing",
        "protocol_id": "mdma-ptsd",
        "starts_at": "2026-03-16T15:30:00Z",
        "ends_at": "2026-03-16T23:30:00Z",
        "clinicians": [
            {"staff_id": "01906eaa-b680-7616-8440-883e2c14d881", "role": "therapist"},
            {"staff_id": "019147c0-cf40-7166-b437-189e15485eba", "role": "nurse"},
        ],
        "room_id": "019002b2-f140-71f1-9b2f-ad778434024f",
        "telehealth": False,
        "cancel_reason": None,
        "late_cancel": False,
        "series_id": "019c7c8a-89e0-79cd-b8ea-3a2bd78cbaec",
        "version": 2,
        "protocol_step": "dosing",
        "video_link": None,
        "previous_starts_at": "2026-03-13T15:30:00Z",
    }

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
    # Who was in the room at check-in/start (staff ids); None: not recorded, i.e. the
    # booked clinicians. Inventory checks the protocol's clinicians are present per dose.
    present_staff_ids: list[str] | None = None


class FailedConditionOut(BaseModel):
    code: str
    detail: str


class DosingSessionFlagged(EventContract):
    """A client's future dosing session no longer meets its protocol's conditions (a
    consent was revoked, a later screening found the client ineligible): the session's
    clinicians are told. The appointment stays booked; check-in and dosing are refused
    until the conditions hold again."""

    event_type = "halcyon.scheduling.dosing_session.flagged.v1"
    topic = "scheduling.appointment.v1"
    subject_field = "appointment_id"
    example: ClassVar[dict[str, Any]] = {
        "appointment_id": "019cafa6-cc30-7107-96b1-0b70f2e5fcee",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "site_timezone": "America/Denver",
        "appointment_type": "mdma_dosing",
        "protocol_id": "mdma-ptsd",
        "starts_at": "2026-03-16T15:30:00Z",
        "clinician_ids": ["01906eaa-b680-7616-8440-883e2c14d881"],
        "failed_conditions": [
            {
                "code": "informed_consent",
                "detail": "no active signed psychedelic_informed consent for protocol mdma-ptsd",
            }
        ],
    }

    appointment_id: str
    client_id: str
    site_id: str
    site_timezone: str
    appointment_type: str
    protocol_id: str
    starts_at: datetime
    clinician_ids: list[str]
    failed_conditions: list[FailedConditionOut]


class WaitlistOfferMade(EventContract):
    """A freed slot was offered to the first suitable client on the waitlist."""

    event_type = "halcyon.scheduling.waitlist.offer_made.v1"
    topic = "scheduling.waitlist.v1"
    subject_field = "offer_id"
    example: ClassVar[dict[str, Any]] = {
        "offer_id": "019cafa6-f340-7988-80bf-0c9328c9e8bd",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "site_timezone": "America/Denver",
        "appointment_type": "psychotherapy",
        "starts_at": "2026-03-04T16:00:00Z",
        "ends_at": "2026-03-04T16:55:00Z",
        "expires_at": "2026-03-03T17:44:40Z",
    }

    offer_id: str
    client_id: str
    site_id: str
    site_timezone: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime
