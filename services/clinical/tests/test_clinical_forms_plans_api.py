"""Forms without code (versioned templates and questionnaires), treatment plans, and the
SPRAVATO REMS monitoring rule at signing, on the real servers."""

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

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def template(*fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": "ketamine-check-in",
        "name": "Ketamine check-in",
        "kind": "note_template",
        "note_kind": "psychotherapy",
        "sections": [{"title": "Check-in", "fields": list(fields)}],
    }


MOOD = {
    "key": "mood",
    "label": "Mood",
    "type": "choice",
    "required": True,
    "choices": [{"value": "low", "label": "Low"}, {"value": "ok", "label": "OK"}],
}
SLEEP = {"key": "sleep_hours", "label": "Sleep (hours)", "type": "number", "required": True}


async def test_agency_templates_are_versioned_and_notes_keep_their_version(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    admin = clinical.headers(tenant, "admin-1", ("*", "agency_admin"))
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    refused = await clinical.http.post("/forms", json=template(MOOD), headers=therapist)
    assert refused.status_code == 403
    v1 = await clinical.http.post("/forms", json=template(MOOD), headers=admin)
    v2 = await clinical.http.post("/forms", json=template(MOOD, SLEEP), headers=admin)
    assert (v1.json()["version"], v2.json()["version"]) == (1, 2)

    def note(version: int, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": "psychotherapy",
            "site_id": "site-1",
            "template_id": "ketamine-check-in",
            "template_version": version,
            "started_at": iso(NOW - timedelta(hours=1)),
            "ended_at": iso(NOW),
            "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
            "content": content,
        }

    url = f"/clients/{client['id']}/notes"
    old = await clinical.http.post(url, json=note(1, {"mood": "ok"}), headers=therapist)
    assert old.status_code == 201
    assert old.json()["template_version"] == 1
    missing = await clinical.http.post(url, json=note(2, {"mood": "ok"}), headers=therapist)
    wrong = await clinical.http.post(
        url, json=note(2, {"mood": "great", "sleep_hours": 7}), headers=therapist
    )
    assert missing.status_code == wrong.status_code == 422
    assert "sleep_hours is required" in missing.text
    new = await clinical.http.post(
        url, json=note(2, {"mood": "low", "sleep_hours": 5}), headers=therapist
    )
    assert new.status_code == 201
    assert new.json()["template_version"] == 2
    read_v1 = await clinical.http.get("/forms/ketamine-check-in/versions/1", headers=therapist)
    assert len(read_v1.json()["definition"]["sections"][0]["fields"]) == 1


async def test_agency_questionnaire_is_validated_and_scored(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    admin = clinical.headers(tenant, "admin-1", ("*", "agency_admin"))
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    scale = [{"value": str(i), "label": str(i), "score": i} for i in range(4)]
    form = {
        "key": "readiness",
        "name": "Readiness for dosing",
        "kind": "questionnaire",
        "scored": True,
        "sections": [
            {
                "title": "Readiness",
                "fields": [
                    {
                        "key": "safe",
                        "label": "I feel safe",
                        "type": "choice",
                        "required": True,
                        "choices": scale,
                    },
                    {
                        "key": "support",
                        "label": "I have support",
                        "type": "choice",
                        "required": True,
                        "choices": scale,
                    },
                ],
            }
        ],
    }
    assert (await clinical.http.post("/forms", json=form, headers=admin)).status_code == 201
    url = f"/clients/{client['id']}/questionnaire-responses"
    base = {
        "form_key": "readiness",
        "form_version": 1,
        "site_id": "site-1",
        "administered_at": iso(NOW),
    }
    scored = await clinical.http.post(
        url, json={**base, "answers": {"safe": "3", "support": "2"}}, headers=therapist
    )
    assert scored.status_code == 201
    assert scored.json()["score"] == 5
    bad = await clinical.http.post(
        url, json={**base, "answers": {"safe": "9", "support": "2"}}, headers=therapist
    )
    assert bad.status_code == 422
    listed = await clinical.http.get(url, headers=therapist)
    assert [r["score"] for r in listed.json()["items"]] == [5]


async def test_treatment_plan_with_measurable_objectives_and_client_signature(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    episode = await clinical.http.post(
        f"/clients/{client['id']}/episodes",
        json={
            "site_id": "site-1",
            "program": "MDMA-AT for PTSD",
            "started_on": "2026-10-01",
            "diagnoses": [{"code": "F43.10"}],
        },
        headers=therapist,
    )
    assert episode.status_code == 201
    assert episode.json()["diagnoses"][0]["primary"]
    added = await clinical.http.post(
        f"/episodes/{episode.json()['id']}/diagnoses", json={"code": "F32.1"}, headers=therapist
    )
    assert [d["code"] for d in added.json()["diagnoses"]] == ["F43.10", "F32.1"]
    dup = await clinical.http.post(
        f"/episodes/{episode.json()['id']}/diagnoses", json={"code": "F43.10"}, headers=therapist
    )
    assert dup.status_code == 409
    plan = {
        "episode_id": episode.json()["id"],
        "site_id": "site-1",
        "effective_on": "2026-10-02",
        "review_on": "2027-01-02",
        "problems": [
            {
                "description": "Intrusive memories and avoidance",
                "diagnosis_code": "F43.10",
                "goals": [
                    {
                        "description": "Reduce PTSD symptoms",
                        "objectives": [
                            {
                                "description": "PCL-5 below the provisional cut-off",
                                "measure": "PCL-5 total",
                                "target": "< 33",
                                "target_date": "2026-12-31",
                            }
                        ],
                    }
                ],
                "interventions": ["Three MDMA-assisted sessions with integration"],
            }
        ],
    }
    created = await clinical.http.post(
        f"/clients/{client['id']}/treatment-plans", json=plan, headers=therapist
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "awaiting_client_signature"
    backwards = await clinical.http.post(
        f"/clients/{client['id']}/treatment-plans",
        json={**plan, "review_on": "2026-09-01"},
        headers=therapist,
    )
    assert backwards.status_code == 422
    signed = await clinical.http.post(
        f"/treatment-plans/{created.json()['id']}/client-signature",
        json={"signed_by_name": "Grace Hopper", "signed_at": iso(NOW)},
        headers=therapist,
    )
    assert signed.json()["status"] == "active"
    assert signed.json()["client_signature"]["signed_by_name"] == "Grace Hopper"


async def test_esketamine_dosing_note_cannot_be_signed_without_rems_monitoring(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    nurse = clinical.headers(tenant, "nurse-1", ("site-1", "nurse"))
    start = NOW - timedelta(hours=4)
    dosed = start + timedelta(minutes=10)
    body = {
        "kind": "dosing",
        "site_id": "site-1",
        "template_id": "builtin:dosing",
        "started_at": iso(start),
        "ended_at": iso(dosed + timedelta(minutes=90)),
        "clinicians": [
            {"staff_id": "nurse-1", "role": "nurse", "monitoring_role": "staff", "minutes": 90}
        ],
        "diagnoses": ["F33.2"],
        "content": {"narrative": "n", "discharge_status": "stable"},
        "dosing": {
            "protocol_id": "esketamine-trd",
            "medicine": "esketamine",
            "dose_mg": 56,
            "administered_at": iso(dosed),
            "therapist_ids": ["nurse-1", "pres-1"],
        },
    }
    note = await clinical.http.post(f"/clients/{client['id']}/notes", json=body, headers=nurse)
    assert note.status_code == 201, note.text
    note_id = note.json()["id"]
    for phase, at in (("pre_dose", start), ("post_dose_40min", dosed + timedelta(minutes=40))):
        reading = await clinical.http.post(
            f"/clients/{client['id']}/vitals",
            json={
                "protocol_id": "esketamine-trd",
                "site_id": "site-1",
                "encounter_id": note_id,
                "phase": phase,
                "measured_at": iso(at),
                "systolic_mmhg": 132,
                "diastolic_mmhg": 84,
            },
            headers=nurse,
        )
        assert reading.status_code == 201
    refused = await clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=nurse)
    assert refused.status_code == 422
    gaps = refused.json()["gaps"]
    assert any("at least 120 min" in g for g in gaps)
    assert any("discharge" in g for g in gaps)
    stored = await clinical.database["notes"].find_one({"_id": note_id})
    assert stored is not None
    assert stored["status"] == "draft"
