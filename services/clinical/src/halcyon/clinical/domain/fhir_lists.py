"""FHIR R4 (R4B models) views of the medication, allergy and problem lists.

Each entry's verification status maps to FHIR's; a list entry marked ``entered_in_error``
is still exported (FHIR has the status for exactly that) so a receiver can retract what
it received earlier.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationstatement import MedicationStatement
from halcyon.clinical.domain.fhir import ICD10CM
from halcyon.clinical.domain.fhir import patient_ref as _patient_ref
from halcyon.clinical.domain.fhir import when as _when

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SOURCES = "https://halcyon.health/fhir/CodeSystem/information-source"
DRUG_CLASSES = "https://halcyon.health/fhir/CodeSystem/drug-class"


def _verification(entry: dict[str, Any]) -> str:
    return str(entry.get("verification_status", "unconfirmed")).replace("_", "-")


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    changed = entry.get("updated_at") or entry["recorded_at"]
    return {"lastUpdated": _when(changed)}


def _notes(entry: dict[str, Any]) -> list[dict[str, str]]:
    texts = [t for t in (entry.get("note"), entry.get("stop_reason")) if t]
    return [{"text": t} for t in texts]


def _stopped(entry: dict[str, Any], today: date) -> bool:
    stopped = entry.get("stopped_on")
    return stopped is not None and date.fromisoformat(str(stopped)) <= today


def _source(entry: dict[str, Any]) -> dict[str, Any]:
    """Who the fact came from: the client, the recording clinician, or a described other."""
    source = entry["source"]
    if source == "client_reported":
        return _patient_ref(entry["client_id"])
    if source in {"prescribed_here", "clinician_observed"}:
        return {"reference": f"Practitioner/{entry['recorded_by']}"}
    return {"display": source.replace("_", " ")}


def medication_statement(entry: dict[str, Any], today: date) -> MedicationStatement:
    verification = _verification(entry)
    if verification == "entered-in-error":
        status = "entered-in-error"
    elif verification == "refuted":
        status = "not-taken"
    else:
        status = "stopped" if _stopped(entry, today) else "active"
    coding = []
    if entry.get("rxnorm"):
        coding.append({"system": RXNORM, "code": entry["rxnorm"], "display": entry["name"]})
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": entry["_id"],
        "meta": _meta(entry),
        "status": status,
        "medicationCodeableConcept": {
            "text": entry["name"],
            **({"coding": coding} if coding else {}),
        },
        "subject": _patient_ref(entry["client_id"]),
        "dateAsserted": _when(entry["recorded_at"]),
        "informationSource": _source(entry),
    }
    if entry.get("drug_class"):
        resource["category"] = {"coding": [{"system": DRUG_CLASSES, "code": entry["drug_class"]}]}
    period = {
        k: entry[f] for k, f in (("start", "started_on"), ("end", "stopped_on")) if entry.get(f)
    }
    if period:
        resource["effectivePeriod"] = period
    if entry.get("dose"):
        resource["dosage"] = [{"text": entry["dose"]}]
    if notes := _notes(entry):
        resource["note"] = notes
    return MedicationStatement.model_validate(resource)


def allergy_intolerance(entry: dict[str, Any], today: date) -> AllergyIntolerance:
    verification = _verification(entry)
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": entry["_id"],
        "meta": _meta(entry),
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": verification if verification != "provisional" else "unconfirmed",
                }
            ]
        },
        "category": [entry.get("category", "medication")],
        "code": {"text": entry["substance"]},
        "patient": _patient_ref(entry["client_id"]),
        "recordedDate": _when(entry["recorded_at"]),
        "recorder": {"reference": f"Practitioner/{entry['recorded_by']}"},
        "asserter": _source(entry),
    }
    # FHIR: no clinical status on an entry made in error (invariant ait-2).
    if verification != "entered-in-error":
        resource["clinicalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "resolved" if _stopped(entry, today) else "active",
                }
            ]
        }
    if entry.get("criticality"):
        resource["criticality"] = entry["criticality"].replace("_", "-")
    if entry.get("started_on"):
        resource["onsetDateTime"] = entry["started_on"]
    if entry.get("reaction"):
        reaction: dict[str, Any] = {"manifestation": [{"text": entry["reaction"]}]}
        if entry.get("severity"):
            reaction["severity"] = entry["severity"]
        resource["reaction"] = [reaction]
    if notes := _notes(entry):
        resource["note"] = notes
    return AllergyIntolerance.model_validate(resource)


def problem_condition(entry: dict[str, Any], today: date) -> Condition:
    verification = _verification(entry)
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": entry["_id"],
        "meta": _meta(entry),
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": verification,
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": ICD10CM,
                    "code": entry["code"],
                    **({"display": entry["description"]} if entry.get("description") else {}),
                }
            ]
        },
        "subject": _patient_ref(entry["client_id"]),
        "recordedDate": _when(entry["recorded_at"]),
        "recorder": {"reference": f"Practitioner/{entry['recorded_by']}"},
        "asserter": _source(entry),
    }
    if verification != "entered-in-error":
        resource["clinicalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "resolved" if _stopped(entry, today) else "active",
                }
            ]
        }
    if entry.get("started_on"):
        resource["onsetDateTime"] = entry["started_on"]
    if entry.get("stopped_on"):
        resource["abatementDateTime"] = entry["stopped_on"]
    if notes := _notes(entry):
        resource["note"] = notes
    return Condition.model_validate(resource)
