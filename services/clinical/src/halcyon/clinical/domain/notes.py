"""Encounters and their notes: draft → signed (locked, hashed) → addenda only.

A signed note is a legal record. Nothing here ever returns a changed copy of a
signed note; corrections are addenda, separate documents that point at it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from halcyon.clinical.domain.common import AwareDatetime, Icd10Code, Id, LongText, ShortText
from halcyon.clinical.domain.forms import BUILTIN_FORMS
from halcyon.shared.calendar import site_day
from halcyon.shared.errors import Conflict, Forbidden, RuleViolation
from halcyon.shared.protocol_floors import floor_of
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

NoteKind = Literal[
    "intake",
    "psychotherapy",
    "family",
    "group",
    "preparation",
    "dosing",
    "integration",
]
NoteStatus = Literal["draft", "awaiting_cosign", "signed"]
LOCKED: frozenset[str] = frozenset({"awaiting_cosign", "signed"})
# Built-in templates; agencies add their own (see domain.forms) and notes keep the version.
BUILTIN_TEMPLATES: dict[str, str] = {k: str(f.note_kind) for k, f in BUILTIN_FORMS.items()}


class Clinician(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: Id
    role: Literal["therapist", "prescriber", "nurse", "psychologist", "counselor"]
    # Psychedelic monitoring: first (0820T), second concurrent (0821T), staff (0822T).
    monitoring_role: Literal["first", "second", "staff"] | None = None
    minutes: Annotated[int, Field(ge=0, le=1440)] | None = None


class MonitoringEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    observation: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class AdverseEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: ShortText
    severity: Literal["mild", "moderate", "severe", "life_threatening"]
    onset_at: AwareDatetime
    action_taken: Annotated[str, StringConstraints(max_length=2000)] | None = None


class SupplementalDose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dose_mg: Annotated[float, Field(gt=0, le=1000)]
    administered_at: AwareDatetime


class DosingRecord(BaseModel):
    """What a dosing session note must hold besides its narrative."""

    model_config = ConfigDict(extra="forbid")

    protocol_id: Id
    medicine: Literal["mdma", "psilocybin", "esketamine", "ketamine"]
    dose_mg: Annotated[float, Field(gt=0, le=1000)]
    administered_at: AwareDatetime
    supplemental_dose: SupplementalDose | None = None
    monitoring_log: list[MonitoringEntry] = Field(default_factory=list, max_length=500)
    adverse_events: list[AdverseEvent] = Field(default_factory=list, max_length=100)
    # The therapists present for the whole session: as many as the protocol's floor
    # (MDMA-AT is a two-therapist model; esketamine and psilocybin need one).
    therapist_ids: Annotated[list[Id], Field(min_length=1, max_length=4)]

    @model_validator(mode="after")
    def _distinct_therapists(self) -> DosingRecord:
        floor = floor_of(self.protocol_id)
        needed = floor.clinicians_present if floor else 2
        if len(set(self.therapist_ids)) < needed:
            raise ValueError(
                f"a {self.protocol_id} dosing session needs {needed} different therapist(s) present"
            )
        if floor is not None and floor.substance.lower() != self.medicine:
            raise ValueError(f"protocol {self.protocol_id} doses {floor.substance.lower()}")
        return self


class NoteDraft(BaseModel):
    """A new encounter note, or the full replacement of a draft."""

    model_config = ConfigDict(extra="forbid")

    kind: NoteKind
    site_id: Id
    template_id: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    template_version: Annotated[int, Field(ge=1)] = 1
    appointment_id: Id | None = None
    episode_id: Id | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime
    place_of_service: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] = "11"
    telehealth: bool = False
    # Telehealth by telephone (no video): billed with the payer's audio-only modifier.
    audio_only: bool = False
    with_patient_present: bool = True
    clinicians: Annotated[list[Clinician], Field(min_length=1, max_length=10)]
    diagnoses: Annotated[list[Icd10Code], Field(max_length=12)] = Field(default_factory=list)
    psychotherapy_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    # Structured content, by the template's field keys (validated against the template).
    content: dict[str, Any] = Field(default_factory=dict)
    dosing: DosingRecord | None = None
    # Substance-use-disorder program record: 42 CFR Part 2 applies.
    part2: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> NoteDraft:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        if self.kind == "dosing" and self.dosing is None:
            raise ValueError("a dosing note records the dosing block (medicine, dose, therapists)")
        if self.kind != "dosing" and self.dosing is not None:
            raise ValueError("only dosing notes carry a dosing block")
        if self.template_id.startswith("builtin:"):
            expected = BUILTIN_TEMPLATES.get(self.template_id)
            if expected is None:
                raise ValueError(f"unknown built-in template {self.template_id}")
            if expected != self.kind:
                raise ValueError(f"{self.template_id} is for {expected} notes")
            if self.template_version != 1:
                raise ValueError("built-in templates have only version 1")
        if self.telehealth and self.place_of_service not in {"02", "10"}:
            raise ValueError("telehealth notes use place of service 02 or 10")
        if self.audio_only and not self.telehealth:
            raise ValueError("an audio-only session is a telehealth session (telehealth: true)")
        if len(set(self.diagnoses)) != len(self.diagnoses):
            raise ValueError("a diagnosis is listed twice")
        return self

    def monitoring_minutes(self) -> int | None:
        values = [c.minutes for c in self.clinicians if c.monitoring_role and c.minutes]
        return max(values) if values else None


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A dosing note failing a protocol condition is signed only once the signer has
    # acknowledged each failed condition by its code (ADR 0403); kept on the note.
    acknowledged_conditions: list[str] = Field(default_factory=list, max_length=10)

    # A supervised clinician names the supervisor; else the staff read model's is used.
    supervisor_id: Id | None = None
    attestation: Literal["I attest this note is accurate and complete"] = (
        "I attest this note is accurate and complete"
    )


class BillingCorrection(BaseModel):
    """Billable facts an addendum corrects; billing receives a new revision."""

    model_config = ConfigDict(extra="forbid")

    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    psychotherapy_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    clinicians: Annotated[list[Clinician], Field(min_length=1, max_length=10)] | None = None
    diagnoses: Annotated[list[Icd10Code], Field(min_length=1, max_length=12)] | None = None
    place_of_service: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] | None = None

    @model_validator(mode="after")
    def _distinct_diagnoses(self) -> BillingCorrection:
        # As on the note: a claim's HI may not list the same code twice.
        if self.diagnoses is not None and len(set(self.diagnoses)) != len(self.diagnoses):
            raise ValueError("a diagnosis is listed twice")
        return self


class AddendumDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[LongText, StringConstraints(min_length=1)]
    reason: ShortText
    billing_correction: BillingCorrection | None = None


# -- lifecycle rules -----------------------------------------------------------


def ensure_editable(note: dict[str, Any]) -> None:
    """Drafts only. Signed notes are never edited or deleted (corrections are addenda)."""
    if note.get("status") in LOCKED:
        raise Conflict(
            "this note is signed and locked; write an addendum instead",
            note_id=note.get("_id"),
            note_status=note.get("status"),
        )


def ensure_author(note: dict[str, Any], user_id: str) -> None:
    if note["author_id"] != user_id:
        raise Forbidden("only the author signs a note")


def ensure_signable(note: dict[str, Any]) -> None:
    """A signed encounter is billed: a claim carries at least one ICD-10-CM code."""
    if not note.get("diagnoses"):
        raise RuleViolation("add at least one ICD-10-CM diagnosis before signing")


def status_after_signing(supervisor_id: str | None) -> NoteStatus:
    """A supervised clinician's signature locks the note but it waits for the supervisor."""
    return "awaiting_cosign" if supervisor_id else "signed"


def ensure_cosigner(note: dict[str, Any], user_id: str) -> None:
    if note.get("status") != "awaiting_cosign":
        raise Conflict(
            "this note is not waiting for a co-signature", note_status=note.get("status")
        )
    if note.get("supervisor_id") != user_id:
        raise Forbidden("only the named supervisor co-signs this note")
    if note["author_id"] == user_id:
        raise RuleViolation("a clinician cannot co-sign their own note")


# Everything a signature covers. Lifecycle bookkeeping (cosign) is not content.
HASHED_FIELDS = (
    "_id",
    "client_id",
    "site_id",
    "kind",
    "template_id",
    "template_version",
    "appointment_id",
    "episode_id",
    "started_at",
    "ended_at",
    "place_of_service",
    "telehealth",
    "with_patient_present",
    "clinicians",
    "diagnoses",
    "psychotherapy_minutes",
    "content",
    "dosing",
    "part2",
    "author_id",
    "signed_by",
    "signed_at",
    "addendum_of",
    "text",
    "reason",
    "billing_correction",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        # Mongo keeps milliseconds; hash what is stored so it verifies after a round trip.
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def content_hash(note: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what was signed."""
    covered = {k: _canonical(note.get(k)) for k in HASHED_FIELDS}
    # Added later: covered only when set, so notes signed before it still verify.
    if note.get("audio_only"):
        covered["audio_only"] = True
    payload = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def verify(note: dict[str, Any]) -> bool:
    stored = note.get("content_hash")
    return bool(stored) and stored == content_hash(note)


def service_date(started_at: datetime, site_timezone: str | None) -> date:
    """The date of service is the site's local date (a 7 pm Denver session is not 'tomorrow')."""
    return site_day(started_at, site_timezone)


def billing_minutes(started_at: datetime, ended_at: datetime) -> int:
    return int((ended_at - started_at).total_seconds() // 60)


def doses_for_note(note: dict[str, Any], doses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dispensed doses belong to a dosing note by appointment, else by the session window."""
    if note.get("kind") != "dosing":
        return []
    appointment = note.get("appointment_id")
    matched = []
    for dose in doses:
        if dose["client_id"] != note["client_id"]:
            continue
        if appointment and dose.get("appointment_id"):
            if dose["appointment_id"] == appointment:
                matched.append(dose)
        elif note["started_at"] <= dose["administered_at"] <= note["ended_at"]:
            matched.append(dose)
    return sorted(matched, key=lambda d: d["administered_at"])


# CPT time rules (AMA CPT, psychotherapy): a unit of time is attained when the midpoint
# is passed; 90832 = 16-37 min, 90834 = 38-52 min, 90837 = 53 min or more.
_PSYCHOTHERAPY_CODES = ((53, "90837"), (38, "90834"), (16, "90832"))
# Psychedelic medication therapy monitoring (CPT Category III, 2024): per clinician role.
_MONITORING_CODES = {"first": "0820T", "second": "0821T", "staff": "0822T"}


def psychotherapy_code(minutes: int) -> str | None:
    for floor, code in _PSYCHOTHERAPY_CODES:
        if minutes >= floor:
            return code
    return None  # under 16 minutes: not reportable as psychotherapy


def service_codes(
    kind: str,
    *,
    minutes: int,
    with_patient_present: bool,
    monitoring_roles: list[str],
    psychotherapy_minutes: int | None = None,
    telehealth: bool = False,
) -> list[str]:
    """The CPT codes the documentation supports; billing adds units and modifiers.

    Mirrors billing's rules (ADR 0601) so the two never disagree on what was documented.
    """
    if kind == "intake":
        return ["90791"]
    if kind == "family":
        # 90846/90847 need at least 26 minutes (midpoint of 50).
        if minutes < 26:
            return []
        return ["90847" if with_patient_present else "90846"]
    if kind == "group":
        return ["90853"]
    if kind == "dosing":
        # The monitoring codes describe continuous in-person monitoring: none by telehealth.
        codes = (
            set()
            if telehealth
            else {_MONITORING_CODES[r] for r in monitoring_roles if r in _MONITORING_CODES}
        )
        talk = psychotherapy_code(psychotherapy_minutes) if psychotherapy_minutes else None
        return sorted(codes) + ([talk] if talk else [])
    code = psychotherapy_code(minutes)
    return [code] if code else []


def compliance_flags(
    note: dict[str, Any],
    consents: list[dict[str, Any]],
    screenings: list[dict[str, Any]],
    now: datetime,
) -> list[str]:
    """What the chart lacked when the note was signed; recorded, never blocking.

    A session that happened must always be documentable, so missing paperwork is
    flagged on the signed note (and visible to compliance) rather than refused.
    """
    from halcyon.clinical.domain.consents import consent_status

    active = [c for c in consents if consent_status(c, now) == "active"]
    flags = []
    if note.get("telehealth") and not any(c["kind"] == "telehealth" for c in active):
        flags.append("telehealth session without an active telehealth consent")
    dosing = note.get("dosing")
    if dosing:
        protocol_id = dosing["protocol_id"]
        if not any(
            c["kind"] == "psychedelic_informed" and c.get("protocol_id") == protocol_id
            for c in active
        ):
            flags.append(f"no active informed consent for {protocol_id}")
        latest = [s for s in screenings if s["protocol_id"] == protocol_id]
        latest.sort(key=lambda s: s["signed_at"])
        if not latest:
            flags.append(f"no screening for {protocol_id}")
        elif not latest[-1]["eligible"]:
            flags.append(f"latest screening for {protocol_id} found the client ineligible")
    return flags


# ICD-10-CM F10-F19: mental and behavioural disorders due to psychoactive substance use.
SUBSTANCE_USE_CATEGORIES = frozenset(f"F1{d}" for d in range(10))
# F17 (nicotine dependence) is left out: 42 CFR 2.11 defines a substance use disorder to
# exclude tobacco ("does not include tobacco or caffeine"), so a smoker's note is not
# Part 2 protected by that diagnosis alone (ADR 0607).
NOT_PART2_CATEGORIES = frozenset({"F17"})


def is_substance_use_disorder(code: str) -> bool:
    """An ICD-10-CM code in F10-F19 other than F17 nicotine (42 CFR 2.11)."""
    category = code.strip().upper().replace(".", "")[:3]
    return category in SUBSTANCE_USE_CATEGORIES and category not in NOT_PART2_CATEGORIES


def part2_protected(*, note_part2: bool, program_part2: bool, diagnoses: list[str]) -> bool:
    """42 CFR 2.11/2.12: a record is Part 2 when a Part 2 program made it (the note's flag or
    its episode's program) or it identifies the patient as having a substance use disorder."""
    return note_part2 or program_part2 or any(is_substance_use_disorder(d) for d in diagnoses)


BILLABLE_FACTS = (
    "started_at",
    "ended_at",
    "psychotherapy_minutes",
    "clinicians",
    "diagnoses",
    "place_of_service",
)


def billable_facts(note: dict[str, Any], corrections: list[dict[str, Any]]) -> dict[str, Any]:
    """The note's billable facts with every billing correction applied in order."""
    facts = {k: note.get(k) for k in BILLABLE_FACTS}
    for correction in corrections:
        facts.update({k: v for k, v in correction.items() if v is not None})
    return facts


# Billing prices the first monitor, then the second, then staff; the rest come after.
_MONITORING_ORDER = {"first": 0, "second": 1, "staff": 2}


def encounter_clinicians_order(monitoring_role: str | None) -> int:
    return _MONITORING_ORDER.get(monitoring_role or "", 3)
