"""Events the clinical service publishes. Minimum necessary: never note text."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from halcyon.shared.contracts import EventContract
from pydantic import BaseModel, Field


class ClientAddress(BaseModel):
    """Postal address (e.g. for the DEA dispensing record, 21 CFR 1304.22(c))."""

    line1: str
    line2: str | None = None
    city: str
    state: str
    postal_code: str
    country: str = "US"


class ClientRegistered(EventContract):
    """A client (patient) was registered at an agency. No identifiers beyond the id."""

    event_type = "halcyon.clinical.client.registered.v1"
    topic = "clinical.client.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "home_site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "given_name": "Rowan",
        "family_name": "Ellery",
        "date_of_birth": "1984-07-19",
        "preferred_language": "en",
        "email": "rowan.ellery@example.org",
        "phone": "+13035550142",
        "timezone": "America/Denver",
        "address": {
            "line1": "2140 Pearl Street",
            "line2": "Apt 3B",
            "city": "Boulder",
            "state": "CO",
            "postal_code": "80302",
            "country": "US",
        },
    }

    client_id: str
    home_site_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    preferred_language: str | None = Field(default=None)
    email: str | None = None
    phone: str | None = None
    timezone: str | None = None
    address: ClientAddress | None = None


class ConsentChanged(EventContract):
    """A consent was signed, revoked or expired (informed, telehealth, ROI, Part 2)."""

    event_type = "halcyon.clinical.consent.changed.v1"
    topic = "clinical.consent.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "consent_id": "019bbd77-ed40-7124-be04-82f3e81cb1d2",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "kind": "psychedelic_informed",
        "protocol_id": "mdma-ptsd",
        "status": "active",
        "effective_at": "2026-01-14T17:05:12Z",
        "expires_at": "2027-01-14T17:05:12Z",
        "recipient": None,
        "purpose": None,
    }

    consent_id: str
    client_id: str
    kind: str  # psychedelic_informed | telehealth | release_of_information | part2
    protocol_id: str | None = None  # for psychedelic_informed, e.g. "mdma-ptsd"
    status: str  # active | revoked | expired
    effective_at: datetime
    expires_at: datetime | None = None
    # Part 2 and release-of-information consents: to whom (42 CFR 2.31(a)(3)) and why
    # (2.31(a)(4): treatment | payment | health_care_operations | specific). Billing sends
    # a Part 2 claim only to a payer named by an active consent for payment (ADR 0607).
    recipient: str | None = None
    purpose: str | None = None


class ScreeningCompleted(EventContract):
    """A prescriber signed a psychedelic-therapy screening: eligible or not, with reasons."""

    event_type = "halcyon.clinical.screening.completed.v1"
    topic = "clinical.screening.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "screening_id": "019be22e-5188-7521-b77c-f1359506f68b",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "protocol_id": "mdma-ptsd",
        "eligible": True,
        "reasons": [],
        "signed_by": "01906eaf-c378-74b8-b17d-6e49deb7b9dc",
        "signed_at": "2026-01-21T20:10:45Z",
    }

    screening_id: str
    client_id: str
    protocol_id: str
    eligible: bool
    reasons: list[str] = []
    signed_by: str
    signed_at: datetime


class EncounterClinician(BaseModel):
    staff_id: str
    role: str  # therapist | prescriber | nurse | ...
    npi: str | None = None
    # For psychedelic monitoring: first (0820T), second concurrent (0821T), staff (0822T).
    monitoring_role: str | None = None
    minutes: int | None = None


class EncounterSigned(EventContract):
    """A note was signed (or an addendum changed billable facts). What billing needs, no text."""

    event_type = "halcyon.clinical.encounter.signed.v1"
    topic = "clinical.encounter.v1"
    subject_field = "encounter_id"
    example: ClassVar[dict[str, Any]] = {
        "encounter_id": "019caf11-b820-7f70-b769-ae02a76af966",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "appointment_id": None,
        "kind": "integration",
        "service_date": "2026-03-02",
        "started_at": "2026-03-02T14:00:00Z",
        "ended_at": "2026-03-02T14:55:00Z",
        "psychotherapy_minutes": 53,
        "monitoring_minutes": None,
        "with_patient_present": True,
        "clinicians": [
            {
                "staff_id": "01906eaa-b680-7616-8440-883e2c14d881",
                "role": "therapist",
                "npi": "1457382906",
                "monitoring_role": None,
                "minutes": 53,
            },
        ],
        "diagnoses": ["F43.10"],
        "place_of_service": "11",
        "telehealth": False,
        "audio_only": False,
        "part2": False,
        "revision": 1,
        "signed_at": "2026-03-02T15:01:40Z",
        "service_codes": ["90837"],
        "addendum_id": None,
    }

    # The note's id; for a group note, one id per member present (ADR 0306).
    encounter_id: str
    client_id: str
    site_id: str
    appointment_id: str | None = None
    kind: str  # intake | psychotherapy | family | group | preparation | dosing | integration
    service_date: date
    started_at: datetime
    ended_at: datetime
    psychotherapy_minutes: int | None = None
    monitoring_minutes: int | None = None
    with_patient_present: bool = True
    clinicians: list[EncounterClinician]
    diagnoses: list[str]  # ICD-10-CM, primary first
    place_of_service: str  # CMS POS code, e.g. "11" office, "10" telehealth at home
    telehealth: bool = False
    # Telehealth by audio only (no video): billed with the payer's audio-only modifier.
    audio_only: bool = False
    # 42 CFR Part 2 protected: the note, its episode's program is a Part 2 program, or a
    # diagnosis is a substance-use disorder (F10-F19 except F17 nicotine; ADR 0607).
    # Billing holds the claim until a Part 2 consent covers payment to the payer.
    part2: bool = False
    # Set when an addendum changed billable facts: billing corrects, never duplicates.
    revision: int = 1
    signed_at: datetime
    # CPT codes the documentation supports (e.g. 90837, 0820T); billing sets units/modifiers.
    service_codes: list[str] = []
    # The addendum that made this revision (revision > 1).
    addendum_id: str | None = None


class ClientDetailsChanged(EventContract):
    """A registered client's demographics or contact details changed (the whole set)."""

    event_type = "halcyon.clinical.client.details_changed.v1"
    topic = "clinical.client.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "home_site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "given_name": "Rowan",
        "family_name": "Ellery",
        "date_of_birth": "1984-07-19",
        "preferred_language": "en",
        "pronouns": "they/them",
        "email": "rowan.ellery@example.org",
        "phone": "+13035550187",
        "address": {
            "line1": "818 Mapleton Avenue",
            "line2": None,
            "city": "Boulder",
            "state": "CO",
            "postal_code": "80304",
            "country": "US",
        },
        "changed_at": "2026-03-02T17:44:51Z",
    }

    client_id: str
    home_site_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    preferred_language: str | None = None
    pronouns: str | None = None
    email: str | None = None
    phone: str | None = None
    address: ClientAddress | None = None
    changed_at: datetime


class VitalsAlertRaised(EventContract):
    """A vitals reading crossed a protocol threshold during a session."""

    event_type = "halcyon.clinical.vitals.alert_raised.v1"
    topic = "clinical.vitals.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "alert_id": "019caf36-ef78-7003-80c5-1da347cc5f3e",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "encounter_id": None,
        "reading_id": "019caf36-eb90-7d70-bca6-15203838da3d",
        "measured_at": "2026-03-02T17:42:18Z",
        "breaches": ["systolic 168 > 160 mmHg", "pulse 124 > 120 /min"],
    }

    alert_id: str
    client_id: str
    site_id: str
    encounter_id: str | None = None
    reading_id: str
    measured_at: datetime
    breaches: list[str]  # e.g. ["systolic 172 > 160 mmHg"]


class SafetyAlertRaised(EventContract):
    """A positive C-SSRS screen or PHQ-9 item 9 above 0."""

    event_type = "halcyon.clinical.safety.alert_raised.v1"
    topic = "clinical.safety.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "alert_id": "019caede-a200-7a51-96ce-2c0cea596c78",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "assessment_id": "019caede-9e18-789c-8f7a-02989db85066",
        "instrument": "phq9",
        "reason": "PHQ-9 item 9 (thoughts of death or self-harm) answered 1",
        "raised_at": "2026-03-02T16:05:52Z",
    }

    alert_id: str
    client_id: str
    site_id: str
    assessment_id: str
    instrument: str
    reason: str
    raised_at: datetime


class RemsMonitoringFormDue(EventContract):
    """A SPRAVATO REMS Patient Monitoring Form is due (or overdue): the session's
    clinicians are reminded until it is recorded as submitted. Ids and dates only."""

    event_type = "halcyon.clinical.rems_form.due.v1"
    topic = "clinical.rems_form.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "form_id": "019caf36-ef78-7003-80c5-1da347cc5f3e",
        "note_id": "019caf36-ef78-7003-80c5-1da347cc5f3e",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "session_on": "2026-03-02",
        "due_on": "2026-03-09",
        "stage": "due_soon",
        "staff_ids": ["01906eaa-b680-7616-8440-883e2c14d881"],
    }

    form_id: str  # the dosing note's id: one form per session
    note_id: str
    client_id: str
    site_id: str
    session_on: date  # the site's local day of the session
    due_on: date  # the site's local day by which the form is submitted
    stage: str  # due_soon | overdue
    staff_ids: list[str]


class AssessmentScored(EventContract):
    """A measurement-based-care instrument was scored (no item answers)."""

    event_type = "halcyon.clinical.assessment.scored.v1"
    topic = "clinical.assessment.v1"
    subject_field = "client_id"
    example: ClassVar[dict[str, Any]] = {
        "assessment_id": "019caede-9e18-789c-8f7a-02989db85066",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "instrument": "pcl5",
        "total": 41,
        "severity": None,
        "scored_at": "2026-03-02T16:05:51Z",
    }

    assessment_id: str
    client_id: str
    instrument: str  # phq9 | gad7 | pcl5 | cssrs_screener
    total: int | None = None
    severity: str | None = None
    scored_at: datetime
