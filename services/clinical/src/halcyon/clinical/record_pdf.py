"""A client's record as a readable PDF (reportlab), rendered from the same FHIR resources
as the record Bundle, so the two always say the same thing."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, Preformatted, SimpleDocTemplate, Spacer

# Section order and headings, as a person reads a chart.
SECTIONS = (
    ("Condition", "Problems and diagnoses"),
    ("MedicationStatement", "Medications"),
    ("AllergyIntolerance", "Allergies and intolerances"),
    ("Appointment", "Appointments"),
    ("Encounter", "Encounters"),
    ("DocumentReference", "Notes"),
    ("Observation", "Vital signs and assessments"),
    ("Consent", "Consents"),
)


def _text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = concept.get("coding") or []
    return ", ".join(str(c.get("display") or c.get("code")) for c in codings)


def _status(concept: dict[str, Any] | None) -> str:
    codings = (concept or {}).get("coding") or []
    return str(codings[0].get("code")) if codings else ""


def summary(resource: dict[str, Any]) -> str:
    """One line per resource; notes get their text separately."""
    kind = resource["resourceType"]
    if kind == "Condition":
        period = resource.get("onsetDateTime", "")
        return (
            f"{_text(resource.get('code'))} — {_status(resource.get('clinicalStatus')) or 'n/a'}"
            f", {_status(resource.get('verificationStatus'))}"
            + (f", since {period}" if period else "")
        )
    if kind == "MedicationStatement":
        period = resource.get("effectivePeriod") or {}
        dose = "; ".join(d.get("text", "") for d in resource.get("dosage", []))
        return (
            f"{_text(resource.get('medicationCodeableConcept'))} {dose} — {resource['status']}"
            f" ({period.get('start', '?')} to {period.get('end', 'now')})"
        )
    if kind == "AllergyIntolerance":
        reactions = "; ".join(
            _text(m) for r in resource.get("reaction", []) for m in r.get("manifestation", [])
        )
        return (
            f"{_text(resource.get('code'))} — {_status(resource.get('clinicalStatus')) or 'n/a'}"
            + (f", reaction: {reactions}" if reactions else "")
            + (f", criticality {resource['criticality']}" if resource.get("criticality") else "")
        )
    if kind == "Encounter":
        period = resource.get("period") or {}
        kinds = ", ".join(_text(t) for t in resource.get("type", []))
        return f"{period.get('start', '')} {kinds} ({resource['status']})"
    if kind == "Observation":
        value = resource.get("valueQuantity") or {}
        shown = (
            f"{value.get('value')} {value.get('unit', '')}"
            if value
            else resource.get("valueInteger", resource.get("valueString", ""))
        )
        if resource.get("component"):
            shown = "/".join(str(c["valueQuantity"]["value"]) for c in resource["component"])
            shown += " mmHg"
        return f"{resource.get('effectiveDateTime', '')} {_text(resource.get('code'))}: {shown}"
    if kind == "Consent":
        categories = ", ".join(_text(c) for c in resource.get("category", []))
        return f"{resource.get('dateTime', '')} {categories} — {resource['status']}"
    if kind == "Appointment":
        return (
            f"{resource.get('start', '')} {_text(resource.get('appointmentType'))}"
            f" ({resource['status']})"
        )
    if kind == "DocumentReference":
        return f"{resource.get('date', '')} {_text(resource.get('type'))} ({resource['docStatus']})"
    return f"{kind} {resource['id']}"


def note_body(resource: dict[str, Any]) -> str:
    data = resource["content"][0]["attachment"].get("data", "")
    return base64.b64decode(data).decode() if data else ""


def render(resources: Sequence[dict[str, Any]], agency: str, generated_at: datetime) -> bytes:
    styles = getSampleStyleSheet()
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    name = patient["name"][0]
    full_name = f"{' '.join(name.get('given', []))} {name.get('family', '')}".strip()
    mrn = patient["identifier"][0]["value"]
    story: list[Any] = [
        Paragraph(escape(f"Health record of {full_name}"), styles["Title"]),
        Paragraph(
            escape(
                f"MRN {mrn} · born {patient.get('birthDate', '')} · {agency} · "
                f"generated {generated_at.strftime('%Y-%m-%d %H:%M UTC')}"
            ),
            styles["Normal"],
        ),
    ]
    for kind, heading in SECTIONS:
        items = [r for r in resources if r["resourceType"] == kind]
        story += [Spacer(1, 0.2 * inch), Paragraph(escape(heading), styles["Heading2"])]
        if not items:
            story.append(Paragraph("None recorded.", styles["Italic"]))
        for item in items:
            story.append(Paragraph(escape(summary(item)), styles["Normal"]))
            if kind == "DocumentReference":
                story.append(Preformatted(note_body(item), styles["Code"], maxLineLength=95))
                story.append(Spacer(1, 0.1 * inch))
    out = io.BytesIO()
    # Uncompressed page streams: the text stays searchable by tools (and by our tests).
    SimpleDocTemplate(
        out,
        pagesize=LETTER,
        title=f"Health record of {full_name}",
        author="Halcyon",
        pageCompression=0,
    ).build(story)
    return out.getvalue()
