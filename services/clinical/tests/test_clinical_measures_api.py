"""Vitals alerts and safety alerts on the real Kafka, screening, and FHIR output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

# The tests dir is not on mypy_path (root pyproject); pytest imports it (rootdir mode).
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clinical,
    new_tenant,
    register,
)
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def test_vitals_over_threshold_alert_on_kafka_and_under_threshold_none(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    nurse = clinical.headers(tenant, "nurse-1", ("site-1", "nurse"))
    url = f"/clients/{client['id']}/vitals"
    base = {"protocol_id": "mdma-ptsd", "site_id": "site-1"}
    under = await clinical.http.post(
        url,
        json={
            **base,
            "measured_at": iso(NOW - timedelta(minutes=30)),
            "systolic_mmhg": 158,
            "diastolic_mmhg": 95,
            "pulse_per_min": 108,
            "temperature_c": 37.9,
        },
        headers=nurse,
    )
    over = await clinical.http.post(
        url,
        json={
            **base,
            "measured_at": iso(NOW - timedelta(minutes=15)),
            "systolic_mmhg": 172,
            "diastolic_mmhg": 96,
            "pulse_per_min": 104,
        },
        headers=nurse,
    )
    assert under.status_code == over.status_code == 201
    assert under.json()["breaches"] == []
    assert under.json()["alert_id"] is None
    assert over.json()["breaches"] == ["systolic 172 > 160 mmHg"]
    # Both readings key on the client, so they share a partition and stay in order: once
    # the second reading's alert is on the topic, the first would be before it if it existed.
    events = await clinical.events(
        "clinical.vitals.v1",
        until=lambda seen: any(e["data"]["reading_id"] == over.json()["id"] for e in seen),
    )
    mine = [e["data"] for e in events if e["data"]["client_id"] == client["id"]]
    assert len(mine) == 1
    assert mine[0]["alert_id"] == over.json()["alert_id"]
    assert mine[0]["breaches"] == ["systolic 172 > 160 mmHg"]
    assert all(e["data"]["reading_id"] != under.json()["id"] for e in events)


async def test_safety_alert_fires_exactly_for_phq9_item9_and_positive_cssrs(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    url = f"/clients/{client['id']}/assessments"
    base = {"site_id": "site-1", "administered_at": iso(NOW - timedelta(minutes=5))}
    submissions: list[tuple[dict[str, Any], bool]] = [
        ({"instrument": "phq9", "items": [3, 3, 3, 3, 3, 3, 3, 3, 0]}, False),  # severe, item 9 = 0
        ({"instrument": "gad7", "items": [3] * 7}, False),
        ({"instrument": "pcl5", "items": [2] * 20}, False),
        (
            {
                "instrument": "cssrs_screener",
                "cssrs": {
                    "wish_to_be_dead": True,
                    "suicidal_thoughts": False,
                    "suicidal_behavior_lifetime": False,
                },
            },
            False,
        ),
        ({"instrument": "phq9", "items": [0, 0, 0, 0, 0, 0, 0, 0, 1]}, True),
        (
            {
                "instrument": "cssrs_screener",
                "cssrs": {
                    "wish_to_be_dead": True,
                    "suicidal_thoughts": True,
                    "thoughts_with_method": True,
                    "intent": False,
                    "plan_with_intent": False,
                    "suicidal_behavior_lifetime": False,
                },
            },
            True,
        ),
    ]
    ids = []
    for body, alert in submissions:
        response = await clinical.http.post(url, json={**base, **body}, headers=therapist)
        assert response.status_code == 201, response.text
        assert (response.json()["safety_alert_id"] is not None) is alert
        ids.append(response.json()["id"])
    scored = [
        (r["instrument"], r["total"], r["severity"])
        for r in (await clinical.http.get(url, params={"limit": 10}, headers=therapist)).json()[
            "items"
        ]
    ]
    assert scored == [
        ("phq9", 24, "severe"),
        ("gad7", 21, "severe"),
        ("pcl5", 40, "provisional_ptsd"),
        ("cssrs_screener", None, "low_risk"),
        ("phq9", 1, "minimal"),
        ("cssrs_screener", None, "moderate_risk"),
    ]
    history = await clinical.http.get(url, params={"instrument": "phq9"}, headers=therapist)
    assert [a["total"] for a in history.json()["items"]] == [24, 1]

    # Alerts of two assessments are two aggregates: the relay promises each one's own
    # order, not an order between them, so wait for both and compare them as a set.
    events = await clinical.events(
        "clinical.safety.v1",
        until=lambda seen: {ids[4], ids[5]} <= {e["data"]["assessment_id"] for e in seen},
    )
    alerted = [e["data"]["assessment_id"] for e in events if e["data"]["client_id"] == client["id"]]
    assert sorted(alerted) == sorted([ids[4], ids[5]])
    scores = await clinical.events(
        "clinical.assessment.v1",
        until=lambda seen: sum(e["data"]["client_id"] == client["id"] for e in seen) >= 6,
    )
    assert all("items" not in e["data"] for e in scores)


async def test_screening_signed_by_a_prescriber_with_every_reason(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    url = f"/clients/{client['id']}/screenings"
    history = {
        "screened_on": NOW.date().isoformat(),
        "systolic_bp": 120,
        "diastolic_bp": 80,
        "qtc_ms": 420,
        "diagnoses": ["F43.10"],
    }
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    prescriber = clinical.headers(tenant, "pres-1", ("site-1", "prescriber"))
    by_therapist = await clinical.http.post(
        url, json={"protocol_id": "mdma-ptsd", "history": history}, headers=therapist
    )
    assert by_therapist.status_code == 403
    clean = await clinical.http.post(
        url, json={"protocol_id": "mdma-ptsd", "history": history}, headers=prescriber
    )
    assert clean.status_code == 201
    assert clean.json()["eligible"] is True
    assert clean.json()["signed_by"] == "pres-1"
    excluded = await clinical.http.post(
        url,
        json={
            "protocol_id": "mdma-ptsd",
            "history": {
                **history,
                "lactating": True,
                "medications": [{"name": "phenelzine", "drug_class": "maoi"}],
            },
        },
        headers=prescriber,
    )
    assert excluded.json()["decision"] == "ineligible"
    assert {r["code"] for r in excluded.json()["reasons"]} == {
        "pregnancy_or_lactation",
        "interacting_medication_washout",
    }
    events = await clinical.events(
        "clinical.screening.v1",
        until=lambda seen: sum(e["data"]["client_id"] == client["id"] for e in seen) >= 2,
    )
    results = [
        (e["data"]["eligible"], sorted(e["data"]["reasons"]))
        for e in events
        if e["data"]["client_id"] == client["id"]
    ]
    assert results == [
        (True, []),
        (False, ["interacting_medication_washout", "pregnancy_or_lactation"]),
    ]


async def test_fhir_read_api_output_validates(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant, phone="+1 303 555 0100", preferred_language="en")
    cid = client["id"]
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    http = clinical.http
    await http.post(
        f"/clients/{cid}/episodes",
        json={
            "site_id": "site-1",
            "program": "MDMA-AT",
            "started_on": "2026-01-05",
            "diagnoses": [{"code": "F43.10", "description": "PTSD"}],
        },
        headers=therapist,
    )
    note = await http.post(
        f"/clients/{cid}/notes",
        json={
            "kind": "psychotherapy",
            "site_id": "site-1",
            "template_id": "builtin:progress-dap",
            "started_at": iso(NOW - timedelta(hours=2)),
            "ended_at": iso(NOW - timedelta(hours=1)),
            "telehealth": True,
            "place_of_service": "10",
            "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
            "diagnoses": ["F43.10"],
            "content": {"data": "d", "assessment": "a", "plan": "p"},
        },
        headers=therapist,
    )
    await http.post(
        f"/clients/{cid}/vitals",
        json={
            "protocol_id": "mdma-ptsd",
            "site_id": "site-1",
            "measured_at": iso(NOW - timedelta(minutes=3)),
            "systolic_mmhg": 130,
            "diastolic_mmhg": 85,
            "spo2_percent": 98,
        },
        headers=therapist,
    )
    await http.post(
        f"/clients/{cid}/assessments",
        json={
            "instrument": "phq9",
            "site_id": "site-1",
            "administered_at": iso(NOW - timedelta(minutes=3)),
            "items": [1] * 9,
        },
        headers=therapist,
    )
    await http.post(
        f"/clients/{cid}/consents",
        json={
            "kind": "telehealth",
            "effective_at": iso(NOW - timedelta(days=1)),
            "signed_by_name": "Grace Hopper",
            "signed_at": iso(NOW - timedelta(days=1)),
        },
        headers=therapist,
    )

    async def fhir(path: str, **params: str) -> dict[str, Any]:
        response = await http.get(f"/fhir/{path}", params=params, headers=therapist)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+json")
        body: dict[str, Any] = response.json()
        return body

    patient = Patient.model_validate(await fhir(f"Patient/{cid}"))
    assert patient.identifier[0].value == client["mrn"]  # type: ignore[index]
    encounter = Encounter.model_validate(await fhir(f"Encounter/{note.json()['id']}"))
    assert encounter.class_fhir.code == "VR"
    observations = await fhir("Observation", patient=cid)
    Bundle.model_validate(observations)
    codes = set()
    for entry in observations["entry"]:
        resource = Observation.model_validate(entry["resource"])
        codes.add(resource.code.coding[0].code)  # type: ignore[index]
    assert codes == {"85354-9", "59408-5", "44261-6"}
    for path, model in (("Condition", Condition), ("Consent", Consent), ("Encounter", Encounter)):
        bundle = await fhir(path, patient=cid)
        Bundle.model_validate(bundle)
        assert bundle["total"] == 1
        model.model_validate(bundle["entry"][0]["resource"])
