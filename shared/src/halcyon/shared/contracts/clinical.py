"""Events the clinical service publishes. Minimum necessary: never note text."""

from __future__ import annotations

from datetime import date, datetime

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

    consent_id: str
    client_id: str
    kind: str  # psychedelic_informed | telehealth | release_of_information | part2
    protocol_id: str | None = None  # for psychedelic_informed, e.g. "mdma-ptsd"
    status: str  # active | revoked | expired
    effective_at: datetime
    expires_at: datetime | None = None


class ScreeningCompleted(EventContract):
    """A prescriber signed a psychedelic-therapy screening: eligible or not, with reasons."""

    event_type = "halcyon.clinical.screening.completed.v1"
    topic = "clinical.screening.v1"
    subject_field = "client_id"

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

    alert_id: str
    client_id: str
    site_id: str
    assessment_id: str
    instrument: str
    reason: str
    raised_at: datetime


class AssessmentScored(EventContract):
    """A measurement-based-care instrument was scored (no item answers)."""

    event_type = "halcyon.clinical.assessment.scored.v1"
    topic = "clinical.assessment.v1"
    subject_field = "client_id"

    assessment_id: str
    client_id: str
    instrument: str  # phq9 | gad7 | pcl5 | cssrs_screener
    total: int | None = None
    severity: str | None = None
    scored_at: datetime
