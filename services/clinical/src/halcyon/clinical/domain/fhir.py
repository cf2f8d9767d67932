"""FHIR R4 views of the chart, built and validated with ``fhir.resources.R4B``.

R4B (4.3) differs from R4 (4.0.1) only in areas we do not use (medication
definitions, subscriptions, evidence); Patient, Encounter, Observation, Condition
and Consent are wire-compatible with R4. Building a model runs the library's
validation, so a malformed resource can never leave the service.

LOINC codes: vital signs per the FHIR vital-signs profile (85354-9 BP panel,
8480-6 systolic, 8462-4 diastolic, 8867-4 heart rate, 8310-5 body temperature,
59408-5 SpO2 by pulse oximetry); PHQ-9 total 44261-6; GAD-7 total 70274-6. PCL-5
and the C-SSRS screener are coded in Halcyon's own instrument code system.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
INSTRUMENTS = "https://halcyon.health/fhir/CodeSystem/instrument"
PART2_LABEL = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "42CFRPart2",
    "display": "42 CFR Part 2",
}
INSTRUMENT_CODES: dict[str, tuple[str, str, str]] = {
    "phq9": (LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
    "gad7": (LOINC, "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score"),
    "pcl5": (INSTRUMENTS, "pcl5-total", "PTSD Checklist for DSM-5 (PCL-5) total score"),
    "cssrs_screener": (INSTRUMENTS, "cssrs-screener-risk", "C-SSRS screener risk level"),
}


def _when(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def as_json(resource: Resource) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(resource.model_dump_json(exclude_none=True))
    return parsed


def _patient_ref(client_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{client_id}"}


def patient(client: dict[str, Any], tenant_id: str) -> Patient:
    telecom = []
    if client.get("phone"):
        telecom.append({"system": "phone", "value": client["phone"]})
    if client.get("email"):
        telecom.append({"system": "email", "value": client["email"]})
    for contact in client.get("contacts", []):
        system = "email" if contact["channel"] == "email" else contact["channel"]
        telecom.append({"system": system, "value": contact["value"], "use": contact["use"]})
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": client["_id"],
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                        }
                    ]
                },
                "system": f"urn:halcyon:{tenant_id}:mrn",
                "value": client["mrn"],
            }
        ],
        "active": True,
        "name": [
            {"use": "official", "family": client["family_name"], "given": [client["given_name"]]}
        ],
        "birthDate": client["date_of_birth"],
    }
    if telecom:
        resource["telecom"] = telecom
    if client.get("address"):
        a = client["address"]
        resource["address"] = [
            {
                "line": [x for x in (a["line1"], a.get("line2")) if x],
                "city": a["city"],
                "state": a["state"],
                "postalCode": a["postal_code"],
                "country": a["country"],
            }
        ]
    if client.get("emergency_contact"):
        e = client["emergency_contact"]
        resource["contact"] = [
            {
                "relationship": [{"text": e["relationship"]}],
                "name": {"text": e["name"]},
                "telecom": [{"system": "phone", "value": e["phone"]}],
            }
        ]
    if client.get("preferred_language"):
        resource["communication"] = [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": client["preferred_language"]}]
                },
                "preferred": True,
            }
        ]
    return Patient.model_validate(resource)


def encounter(note: dict[str, Any]) -> Encounter:
    virtual = note.get("telehealth", False)
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": note["_id"],
        "status": "finished" if note["status"] == "signed" else "in-progress",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "VR" if virtual else "AMB",
            "display": "virtual" if virtual else "ambulatory",
        },
        "type": [{"text": note["kind"]}],
        "subject": _patient_ref(note["client_id"]),
        "participant": [
            {
                "type": [{"text": c.get("monitoring_role") or c["role"]}],
                "individual": {"reference": f"Practitioner/{c['staff_id']}"},
            }
            for c in note.get("clinicians", [])
        ],
        "period": {"start": _when(note["started_at"]), "end": _when(note["ended_at"])},
        "reasonCode": [
            {"coding": [{"system": ICD10CM, "code": code}]} for code in note.get("diagnoses", [])
        ],
    }
    if note.get("part2"):
        resource["meta"] = {"security": [PART2_LABEL]}
    if not resource["participant"]:
        del resource["participant"]
    if not resource["reasonCode"]:
        del resource["reasonCode"]
    return Encounter.model_validate(resource)


_VITALS = (
    ("pulse_per_min", "8867-4", "Heart rate", "/min", "/min"),
    ("temperature_c", "8310-5", "Body temperature", "Cel", "Cel"),
    ("spo2_percent", "59408-5", "Oxygen saturation by Pulse oximetry", "%", "%"),
)


def vitals_observations(reading: dict[str, Any]) -> list[Observation]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "subject": _patient_ref(reading["client_id"]),
        "effectiveDateTime": _when(reading["measured_at"]),
    }
    if reading.get("encounter_id"):
        base["encounter"] = {"reference": f"Encounter/{reading['encounter_id']}"}
    out = []
    if reading.get("systolic_mmhg") is not None:
        out.append(
            Observation.model_validate(
                {
                    **base,
                    "id": f"{reading['_id']}-bp",
                    "code": {
                        "coding": [
                            {"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}
                        ]
                    },
                    "component": [
                        {
                            "code": {"coding": [{"system": LOINC, "code": code}]},
                            "valueQuantity": {
                                "value": reading[key],
                                "unit": "mmHg",
                                "system": UCUM,
                                "code": "mm[Hg]",
                            },
                        }
                        for key, code in (("systolic_mmhg", "8480-6"), ("diastolic_mmhg", "8462-4"))
                    ],
                }
            )
        )
    for key, code, display, unit, ucum in _VITALS:
        if reading.get(key) is None:
            continue
        out.append(
            Observation.model_validate(
                {
                    **base,
                    "id": f"{reading['_id']}-{code}",
                    "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                    "valueQuantity": {
                        "value": reading[key],
                        "unit": unit,
                        "system": UCUM,
                        "code": ucum,
                    },
                }
            )
        )
    return out


def score_observation(assessment: dict[str, Any]) -> Observation:
    system, code, display = INSTRUMENT_CODES[assessment["instrument"]]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": assessment["_id"],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": _patient_ref(assessment["client_id"]),
        "effectiveDateTime": _when(assessment["administered_at"]),
        "interpretation": [{"text": assessment["severity"]}],
    }
    if assessment.get("total") is not None:
        resource["valueInteger"] = assessment["total"]
    else:
        resource["valueString"] = assessment["severity"]
    return Observation.model_validate(resource)


def condition(episode: dict[str, Any], diagnosis: dict[str, Any]) -> Condition:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"{episode['_id']}-{diagnosis['code'].replace('.', '')}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active" if episode["status"] == "open" else "resolved",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
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
                    "code": diagnosis["code"],
                    **(
                        {"display": diagnosis["description"]}
                        if diagnosis.get("description")
                        else {}
                    ),
                }
            ]
        },
        "subject": _patient_ref(episode["client_id"]),
    }
    if diagnosis.get("onset_on"):
        resource["onsetDateTime"] = diagnosis["onset_on"]
    if episode.get("part2"):
        resource["meta"] = {"security": [PART2_LABEL]}
    return Condition.model_validate(resource)


_CONSENT_SCOPE = {
    "psychedelic_informed": ("treatment", "Consent to Treatment"),
    "telehealth": ("treatment", "Consent to Treatment"),
    "release_of_information": ("patient-privacy", "Privacy Consent"),
    "part2": ("patient-privacy", "Privacy Consent"),
}


def consent(record: dict[str, Any], status: str) -> Consent:
    scope, scope_display = _CONSENT_SCOPE[record["kind"]]
    fhir_status = {"active": "active", "revoked": "inactive", "expired": "inactive"}.get(
        status, "proposed"
    )
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {
            "start": _when(record["effective_at"]),
            **({"end": _when(record["expires_at"])} if record.get("expires_at") else {}),
        },
    }
    if record.get("recipient"):
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": {"display": record["recipient"]},
            }
        ]
    if record.get("purpose"):
        provision["purpose"] = [
            {
                "system": "https://halcyon.health/fhir/CodeSystem/part2-purpose",
                "code": record["purpose"],
            }
        ]
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": record["_id"],
        "status": fhir_status,
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": scope,
                    "display": scope_display,
                }
            ]
        },
        "category": [{"text": record["kind"]}],
        "patient": _patient_ref(record["client_id"]),
        "dateTime": _when(record["signed_at"]),
        "policyRule": {
            "text": "42 CFR part 2" if record["kind"] == "part2" else "HIPAA / agency policy"
        },
        "provision": provision,
    }
    if record["kind"] == "part2":
        resource["meta"] = {"security": [PART2_LABEL]}
    return Consent.model_validate(resource)


def searchset(resources: Sequence[Resource]) -> Bundle:
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(resources),
            "entry": [
                {
                    "fullUrl": f"urn:halcyon:{r.get_resource_type()}/{r.id}",
                    "resource": as_json(r),
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
    )


# Public names for the other FHIR mappers of the chart (lists, documents, export).
patient_ref = _patient_ref
when = _when
