"""Group sessions: one note for several clients, each of whom sees only their own part.

A group note has a shared section (what the group did) and one section per member.
It is signed once, by its author, and is then locked like an individual note. Billing
is per member: each member *present* earns one group psychotherapy service (CPT 90853);
an absent or late-cancelled member earns nothing. A member's chart shows the shared
section and that member's own section, and of the others only how many there were:
another member's name, id or section is their protected health information (ADR 0306).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Any, Literal

from halcyon.clinical.domain.common import AwareDatetime, Icd10Code, Id, LongText
from halcyon.clinical.domain.notes import Clinician, _canonical
from halcyon.shared.errors import RuleViolation
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Attendance = Literal["present", "absent", "late_cancel"]
GROUP_PSYCHOTHERAPY = "90853"
# A stable namespace: a member's encounter id is derived, so a retried signature
# produces the same ids and billing (which is idempotent per encounter) bills once.
_ENCOUNTER_NAMESPACE = uuid.UUID("6f1d3a52-5c1e-4b7e-9a43-0d9b8f2e9c11")


class GroupMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: Id
    attendance: Attendance
    # This member's part of the note: seen by them (and the facilitators) only.
    section: LongText = ""
    diagnoses: Annotated[list[Icd10Code], Field(max_length=12)] = Field(default_factory=list)


class GroupNoteDraft(BaseModel):
    """A group session and its note, or the full replacement of a draft."""

    model_config = ConfigDict(extra="forbid")

    site_id: Id
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime
    place_of_service: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] = "11"
    telehealth: bool = False
    clinicians: Annotated[list[Clinician], Field(min_length=1, max_length=10)]
    shared_section: LongText = ""
    members: Annotated[list[GroupMember], Field(min_length=2, max_length=30)]

    @model_validator(mode="after")
    def _consistent(self) -> GroupNoteDraft:
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at is not after started_at")
        ids = [m.client_id for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("a client is listed twice in the group")
        if self.telehealth and self.place_of_service not in {"02", "10"}:
            raise ValueError("telehealth sessions use place of service 02 or 10")
        return self


def billed_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The members who earn a 90853: those present. Absence and late cancels bill nothing."""
    return [m for m in members if m.get("attendance") == "present"]


def ensure_signable(session: dict[str, Any]) -> None:
    """Each billed member's claim needs a diagnosis; the others need none."""
    missing = [m["client_id"] for m in billed_members(session["members"]) if not m["diagnoses"]]
    if missing:
        raise RuleViolation(
            "add at least one ICD-10-CM diagnosis for every member present before signing",
            clients=missing,
        )


def member_encounter_id(session_id: str, client_id: str) -> str:
    """The billable encounter of one member in one session (deterministic, see above)."""
    return str(uuid.uuid5(_ENCOUNTER_NAMESPACE, f"{session_id}:{client_id}"))


def member_view(session: dict[str, Any], client_id: str) -> dict[str, Any]:
    """What the chart of ``client_id`` shows of a group note: the shared section, their own
    section and attendance, and only the count of the other members."""
    own = next((m for m in session["members"] if m["client_id"] == client_id), None)
    if own is None:
        raise KeyError(client_id)
    return {
        "id": session["_id"],
        "client_id": client_id,
        "site_id": session["site_id"],
        "name": session.get("name"),
        "status": session["status"],
        "started_at": session["started_at"],
        "ended_at": session["ended_at"],
        "clinicians": session["clinicians"],
        "author_id": session["author_id"],
        "signed_by": session.get("signed_by"),
        "signed_at": session.get("signed_at"),
        "shared_section": session["shared_section"],
        "attendance": own["attendance"],
        "section": own["section"],
        "diagnoses": own["diagnoses"],
        "encounter_id": own.get("encounter_id"),
        "other_members": len(session["members"]) - 1,
    }


# Everything a group note's signature covers.
HASHED_FIELDS = (
    "_id",
    "site_id",
    "name",
    "started_at",
    "ended_at",
    "place_of_service",
    "telehealth",
    "clinicians",
    "shared_section",
    "members",
    "author_id",
    "signed_by",
    "signed_at",
)


def content_hash(session: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what was signed (as for individual notes)."""
    covered = {k: _canonical(session.get(k)) for k in HASHED_FIELDS}
    payload = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def member_record(session: dict[str, Any], client_id: str) -> dict[str, Any]:
    """A signed group note as a note of ``client_id``'s record (the FHIR export and PDF).

    Built from the member view, so the export withholds exactly what the chart withholds.
    Its id is the member's derived id: the same session appears once per member in an
    agency-wide export, never twice under one id.
    """
    view = member_view(session, client_id)
    others = view["other_members"]
    return {
        "_id": member_encounter_id(session["_id"], client_id),
        "client_id": client_id,
        "kind": "group",
        "status": view["status"],
        "started_at": view["started_at"],
        "ended_at": view["ended_at"],
        "diagnoses": view["diagnoses"],
        "content": {
            "group": view["name"] or "",
            "attendance": view["attendance"].replace("_", " "),
            "shared_section": view["shared_section"],
            "your_section": view["section"],
            "other_members": f"{others} other member{'s' if others != 1 else ''}",
        },
        "author_id": view["author_id"],
        "signed_by": view["signed_by"],
        "signed_at": view["signed_at"],
        "created_at": session.get("created_at") or view["started_at"],
    }
