"""Every GET route of clinical that returns client data leaves an access audit (HIPAA
45 CFR 164.312(b); issue 18, item 10). Routes are enumerated from the app's wiring: a
new route fails this test until it is walked or declared free of client data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clear_for_dosing,
    clinical,
    new_tenant,
    register,
)
from halcyon.clinical.app import wiring
from halcyon.shared.testing.audit_walk import audited_request_ids, get_routes, uncovered, walk

pytestmark = pytest.mark.integration
__all__ = ["clinical"]  # the fixture, used by name below

# Reference data: the same for every client, about none.
WITHOUT_CLIENT_DATA = {"/forms", "/forms/{key}/versions/{version}", "/protocols", "/fhir/metadata"}
# Means and counts per program, no client named (still audited, without a client: see
# test_clinical_outcomes).
WITHOUT_CLIENT_DATA |= {"/reports/outcomes"}
# Walked, with their audit entries checked, by their own tests: a group session's reads
# (test_clinical_group_sessions_api: one entry per member shown) and the agency-wide bulk
# export, which audits every exported client when the job runs (test_clinical_fhir_export_api).
WALKED_ELSEWHERE = {
    "/clients/{client_id}/group-notes/{session_id}",
    "/group-sessions/{session_id}",
    "/fhir/$export",
    "/fhir/$export-status/{job_id}",
    "/fhir/$export-file/{job_id}/{name}",
}


async def test_every_client_read_is_audited(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    cid = client["id"]
    await clear_for_dosing(clinical, tenant, cid)
    lead = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    now = datetime.now(UTC).replace(microsecond=0)
    note = await clinical.http.post(
        f"/clients/{cid}/notes",
        json={
            "kind": "psychotherapy",
            "site_id": "site-1",
            "template_id": "builtin:progress-soap",
            "started_at": (now - timedelta(hours=2)).isoformat(),
            "ended_at": (now - timedelta(hours=1)).isoformat(),
            "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
            "diagnoses": ["F43.10"],
            "psychotherapy_minutes": 53,
            "content": {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"},
        },
        headers=lead,
    )
    assert note.status_code == 201, note.text
    note_id = note.json()["id"]
    assert (await clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=lead)).is_success
    vitals = await clinical.http.post(
        f"/clients/{cid}/vitals",
        json={
            "protocol_id": "mdma-ptsd",
            "site_id": "site-1",
            "measured_at": now.isoformat(),
            "systolic_mmhg": 120,
            "diastolic_mmhg": 80,
        },
        headers=lead,
    )
    assert vitals.status_code == 201, vitals.text

    scan = await clinical.http.post(
        f"/clients/{cid}/documents",
        content=b"%PDF-1.4\n" + bytes(100) + b"\n%%EOF\n",
        params={"category": "consent", "title": "Signed consent"},
        headers={**lead, "Content-Type": "application/pdf"},
    )
    assert scan.status_code == 201, scan.text
    doc_id = scan.json()["id"]
    calls = {
        "/clients/{client_id}/documents": f"/clients/{cid}/documents",
        "/documents/{document_id}": f"/documents/{doc_id}",
        "/documents/{document_id}/content": f"/documents/{doc_id}/content",
        "/clients/{client_id}": f"/clients/{cid}",
        "/clients": "/clients?name=Hopper",
        "/clients/{client_id}/episodes": f"/clients/{cid}/episodes",
        "/clients/{client_id}/treatment-plans": f"/clients/{cid}/treatment-plans",
        "/clients/{client_id}/questionnaire-responses": f"/clients/{cid}/questionnaire-responses",
        "/clients/{client_id}/consents": f"/clients/{cid}/consents",
        "/clients/{client_id}/screenings": f"/clients/{cid}/screenings",
        "/notes/{note_id}": f"/notes/{note_id}",
        "/notes/{note_id}/verification": f"/notes/{note_id}/verification",
        "/clients/{client_id}/notes": f"/clients/{cid}/notes",
        "/clients/{client_id}/rems-forms": f"/clients/{cid}/rems-forms",
        "/clients/{client_id}/vitals": f"/clients/{cid}/vitals",
        "/clients/{client_id}/assessments": f"/clients/{cid}/assessments",
        "/fhir/Patient/{client_id}": f"/fhir/Patient/{cid}",
        "/fhir/Encounter/{encounter_id}": f"/fhir/Encounter/{note_id}",
        "/fhir/Encounter": f"/fhir/Encounter?patient={cid}",
        "/fhir/Observation": f"/fhir/Observation?patient={cid}",
        "/fhir/Condition": f"/fhir/Condition?patient={cid}",
        "/fhir/Consent": f"/fhir/Consent?patient={cid}",
        "/clients/{client_id}/allergies": f"/clients/{cid}/allergies",
        "/clients/{client_id}/medications": f"/clients/{cid}/medications",
        "/clients/{client_id}/problems": f"/clients/{cid}/problems",
        "/clients/{client_id}/record": f"/clients/{cid}/record",
        "/clients/{client_id}/record.pdf": f"/clients/{cid}/record.pdf",
        "/clients/{client_id}/group-notes": f"/clients/{cid}/group-notes",
        "/fhir/{resource_type}": f"/fhir/MedicationStatement?patient={cid}",
        "/fhir/{resource_type}/{resource_id}": f"/fhir/Patient/{cid}",
    }
    routes = get_routes(wiring)
    assert uncovered(routes, calls, WITHOUT_CLIENT_DATA | WALKED_ELSEWHERE) == [], (
        "walk the new GET routes"
    )
    made = await walk(clinical.http, {route: (url, lead) for route, url in calls.items()})
    assert made.failures() == {}
    reads = made.reads()
    # The file's bytes name no client; its audit entry is still checked below.
    unnamed = {"/notes/{note_id}/verification", "/documents/{document_id}/content"}
    assert set(made.reads_of([cid]).values()) >= set(calls) - unnamed
    topic = clinical.settings.topic_prefix + "audit.access.v1"
    found = await audited_request_ids(clinical.servers.kafka_bootstrap, topic, reads)
    missing = sorted(route for rid, route in reads.items() if rid not in found)
    assert missing == [], f"reads of client data without an audit entry: {missing}"
