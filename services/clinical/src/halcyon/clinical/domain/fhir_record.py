"""The whole chart as FHIR: notes as DocumentReference, staff and sites, bundles, search.

Pure mapping and filtering; the use cases load the documents (ADR 0304).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.resource import Resource
from halcyon.clinical.domain.fhir import PART2_LABEL, as_json
from halcyon.clinical.domain.fhir import patient_ref as _patient_ref
from halcyon.clinical.domain.fhir import when as _when
from halcyon.shared.errors import RuleViolation

NPI = "http://hl7.org/fhir/sid/us-npi"
LOINC = "http://loinc.org"
NOTE_KINDS = "https://halcyon.health/fhir/CodeSystem/note-kind"


def _text_of(note: dict[str, Any]) -> str:
    """A note as a person reads it: its fields in order, or an addendum's text and reason."""
    if note.get("addendum_of"):
        lines = [f"Addendum to note {note['addendum_of']}", f"Reason: {note.get('reason', '')}"]
        lines += ["", str(note.get("text", ""))]
        return "\n".join(lines)
    lines = [f"{note['kind'].replace('_', ' ').title()} note"]
    if note.get("started_at") and note.get("ended_at"):
        lines.append(f"Session: {_when(note['started_at'])} to {_when(note['ended_at'])}")
    if note.get("diagnoses"):
        lines.append(f"Diagnoses: {', '.join(note['diagnoses'])}")
    for key, value in (note.get("content") or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"{key.replace('_', ' ').title()}: {shown}")
    return "\n".join(lines)


def note_text(note: dict[str, Any]) -> str:
    return _text_of(note)


def last_updated(doc: dict[str, Any]) -> datetime:
    """When a record last changed: the latest of the times it carries."""
    stamps: list[datetime] = [
        doc[k]
        for k in (
            "updated_at",
            "cosigned_at",
            "signed_at",
            "revoked_at",
            "recorded_at",
            "created_at",
            "registered_at",
            "opened_at",
            "measured_at",
            "administered_at",
            "source_time",
            "uploaded_at",
        )
        if isinstance(doc.get(k), datetime)
    ]
    if not stamps:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return max(s if s.tzinfo else s.replace(tzinfo=UTC) for s in stamps)


def document_reference(note: dict[str, Any]) -> DocumentReference:
    """A note (or an addendum) as a DocumentReference with its text attached.

    Signed notes are ``final``; co-signature pending ``preliminary``; drafts are not
    exported at all (the use case filters them). An addendum ``appends`` its note.
    """
    text = _text_of(note)
    status = note.get("status")
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": note["_id"],
        "status": "current",
        "docStatus": "final" if status == "signed" else "preliminary",
        "type": {
            "coding": [{"system": NOTE_KINDS, "code": note["kind"]}],
            "text": note["kind"].replace("_", " "),
        },
        "category": [{"coding": [{"system": LOINC, "code": "11488-4", "display": "Consult note"}]}],
        "subject": _patient_ref(note["client_id"]),
        "date": _when(note.get("signed_at") or note["created_at"]),
        "author": [{"reference": f"Practitioner/{note['author_id']}"}],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                    "title": f"{note['kind']} note",
                    "creation": _when(note["created_at"]),
                }
            }
        ],
    }
    if note.get("content_hash"):
        resource["content"][0]["attachment"]["hash"] = base64.b64encode(
            bytes.fromhex(note["content_hash"])[:20]
        ).decode()
    if note.get("signed_by"):
        resource["authenticator"] = {"reference": f"Practitioner/{note['signed_by']}"}
    if note.get("addendum_of"):
        resource["relatesTo"] = [
            {"code": "appends", "target": {"reference": f"DocumentReference/{note['addendum_of']}"}}
        ]
    else:
        context: dict[str, Any] = {"encounter": [{"reference": f"Encounter/{note['_id']}"}]}
        if note.get("started_at") and note.get("ended_at"):
            context["period"] = {
                "start": _when(note["started_at"]),
                "end": _when(note["ended_at"]),
            }
        resource["context"] = context
    if note.get("part2"):
        resource["meta"] = {"security": [PART2_LABEL]}
    return DocumentReference.model_validate(resource)


DOCUMENT_CATEGORIES = "https://halcyon.health/fhir/CodeSystem/document-category"


def uploaded_document_reference(doc: dict[str, Any]) -> DocumentReference:
    """A scanned document in the chart (ADR 0307). The file is not inlined (it may be
    10 MB): the attachment points at its download, which is access-checked and audited."""
    category = str(doc["category"])
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": doc["_id"],
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [{"system": DOCUMENT_CATEGORIES, "code": category}],
            "text": category.replace("_", " "),
        },
        "subject": _patient_ref(doc["client_id"]),
        "date": _when(doc["uploaded_at"]),
        "author": [{"reference": f"Practitioner/{doc['uploaded_by']}"}],
        "description": doc["title"],
        "content": [
            {
                "attachment": {
                    "contentType": doc["content_type"],
                    "url": f"documents/{doc['_id']}/content",
                    "size": int(doc["size_bytes"]),
                    "title": doc.get("filename") or doc["title"],
                    "creation": _when(doc["uploaded_at"]),
                }
            }
        ],
    }
    return DocumentReference.model_validate(resource)


# Scheduling's statuses in FHIR's words (R4 AppointmentStatus).
_APPOINTMENT_STATUS = {
    "booked": "booked",
    "rescheduled": "booked",
    "checked_in": "checked-in",
    "started": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}


def appointment(doc: dict[str, Any]) -> Appointment:
    """A visit from scheduling's read model; the room stays internal, the site is named."""
    participants: list[dict[str, Any]] = [
        {"actor": _patient_ref(doc["client_id"]), "status": "accepted", "required": "required"}
    ]
    participants += [
        {
            "actor": {"reference": f"Practitioner/{c['staff_id']}"},
            "type": [{"text": c.get("role", "clinician")}],
            "status": "accepted",
        }
        for c in doc.get("clinicians", [])
    ]
    participants.append(
        {"actor": {"reference": f"Location/{doc['site_id']}"}, "status": "accepted"}
    )
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": doc["_id"],
        "status": _APPOINTMENT_STATUS.get(str(doc.get("status")), "booked"),
        "appointmentType": {"text": str(doc.get("appointment_type", "visit")).replace("_", " ")},
        "start": _when(doc["starts_at"]),
        "end": _when(doc["ends_at"]),
        "participant": participants,
    }
    if doc.get("cancel_reason"):
        resource["cancelationReason"] = {"text": doc["cancel_reason"]}
    if doc.get("telehealth"):
        resource["serviceCategory"] = [{"text": "telehealth"}]
    return Appointment.model_validate(resource)


def practitioner(staff: dict[str, Any]) -> Practitioner:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": staff["_id"],
        "active": staff.get("active", True),
        "name": [{"text": staff.get("display_name") or staff["_id"]}],
    }
    if staff.get("npi"):
        resource["identifier"] = [{"system": NPI, "value": staff["npi"]}]
    quals = [
        {
            "code": {"text": lic.get("type", "licence")},
            "identifier": [{"value": lic["number"]}],
            **({"period": {"end": lic["expires_on"]}} if lic.get("expires_on") else {}),
        }
        for lic in staff.get("licences") or []
        if lic.get("number")
    ]
    if quals:
        resource["qualification"] = quals
    return Practitioner.model_validate(resource)


def location(site: dict[str, Any], tenant_id: str) -> Location:
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": site["_id"],
        "status": "active" if site.get("active", True) else "inactive",
        "name": site.get("name") or site["_id"],
        "managingOrganization": {"reference": f"Organization/{tenant_id}"},
    }
    if site.get("timezone"):
        resource["description"] = f"Time zone {site['timezone']}"
    return Location.model_validate(resource)


def organization(tenant_id: str, name: str | None = None) -> Organization:
    return Organization.model_validate(
        {"resourceType": "Organization", "id": tenant_id, "active": True, "name": name or tenant_id}
    )


def with_last_updated(resource: Resource, changed: datetime) -> dict[str, Any]:
    body = as_json(resource)
    body.setdefault("meta", {})["lastUpdated"] = _when(changed)
    return body


def collection(entries: Sequence[dict[str, Any]], now: datetime) -> Bundle:
    """A client's record: every resource, each once (the HIPAA right of access)."""
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": _when(now),
            "entry": [
                {"fullUrl": f"urn:halcyon:{e['resourceType']}/{e['id']}", "resource": e}
                for e in entries
            ],
        }
    )


# -- search ---------------------------------------------------------------------------

_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


@dataclass(frozen=True)
class DateBound:
    """One ``date``/``_lastUpdated`` value: a prefix and the range the value stands for."""

    prefix: str
    start: datetime
    end: datetime  # exclusive

    def admits(self, value: datetime) -> bool:
        if self.prefix == "eq":
            return self.start <= value < self.end
        if self.prefix == "ne":
            return not (self.start <= value < self.end)
        if self.prefix in ("gt", "sa"):
            return value >= self.end
        if self.prefix in ("lt", "eb"):
            return value < self.start
        if self.prefix == "ge":
            return value >= self.start
        return value < self.end  # le


def parse_date(raw: str) -> DateBound:
    """``ge2026-01-01``, ``2026-11``, ``lt2026-11-27T10:00:00Z`` (FHIR date search)."""
    prefix, value = ("eq", raw)
    if raw[:2] in _PREFIXES:
        prefix, value = raw[:2], raw[2:]
    try:
        if "T" in value:
            start = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
            end = start + timedelta(seconds=1)  # search precision: seconds
        elif len(value) == 4:
            start = datetime(int(value), 1, 1, tzinfo=UTC)
            end = datetime(int(value) + 1, 1, 1, tzinfo=UTC)
        elif len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        else:
            day = date.fromisoformat(value)
            start = datetime.combine(day, time(), tzinfo=UTC)
            end = start + timedelta(days=1)
    except ValueError:
        raise RuleViolation(f"{raw!r} is not a FHIR date search value") from None
    return DateBound(prefix, start, end)


@dataclass(frozen=True)
class Found:
    """A resource with the facts search needs (when it happened, when it last changed)."""

    body: dict[str, Any]
    changed: datetime
    when: datetime | None = None

    @property
    def resource_type(self) -> str:
        return str(self.body["resourceType"])

    @property
    def id(self) -> str:
        return str(self.body["id"])


@dataclass(frozen=True)
class SearchFilter:
    ids: frozenset[str] = frozenset()
    dates: tuple[DateBound, ...] = ()
    last_updated: tuple[DateBound, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def admits(self, found: Found) -> bool:
        if self.ids and found.id not in self.ids:
            return False
        if self.dates and (found.when is None or not all(b.admits(found.when) for b in self.dates)):
            return False
        return all(b.admits(found.changed) for b in self.last_updated)


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.combine(date.fromisoformat(value[:10]), time(), tzinfo=UTC)
    return None


def searchset_page(
    matches: Sequence[Found], total: int, self_url: str, next_url: str | None
) -> Bundle:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": links,
            "entry": [
                {
                    "fullUrl": f"urn:halcyon:{f.resource_type}/{f.id}",
                    "resource": f.body,
                    "search": {"mode": "match"},
                }
                for f in matches
            ],
        }
    )


# The types this server serves, with the search parameters each one takes.
CLINICAL_TYPES = (
    "Patient",
    "Encounter",
    "DocumentReference",
    "Observation",
    "Condition",
    "MedicationStatement",
    "AllergyIntolerance",
    "Consent",
    "Appointment",
)
DIRECTORY_TYPES = ("Practitioner", "Location", "Organization")
COMMON_PARAMS = (
    ("_id", "token", "Logical id"),
    ("_lastUpdated", "date", "When the resource last changed"),
    ("_count", "number", "Page size (1-200)"),
)


def capability_statement(base_url: str, now: datetime) -> CapabilityStatement:
    def params(kind: str) -> list[dict[str, str]]:
        out = [{"name": n, "type": t, "documentation": d} for n, t, d in COMMON_PARAMS]
        if kind in CLINICAL_TYPES and kind != "Patient":
            out.append({"name": "patient", "type": "reference", "documentation": "The client"})
            out.append({"name": "date", "type": "date", "documentation": "When it happened"})
        return out

    resources = [
        {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params(kind),
        }
        for kind in (*CLINICAL_TYPES, *DIRECTORY_TYPES)
    ]
    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": _when(now),
            "kind": "instance",
            "software": {"name": "Halcyon clinical"},
            "implementation": {"description": "Halcyon clinical FHIR API", "url": base_url},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": (
                            "Bearer tokens from Halcyon identity; every read is checked "
                            "against the caller's role and site, and audited."
                        )
                    },
                    "resource": resources,
                    "operation": [
                        {
                            "name": "export",
                            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                        },
                    ],
                }
            ],
        }
    )
