"""The record leaves with its owner: the client's Bundle and PDF, and FHIR search with paging."""

from __future__ import annotations

import importlib
import re
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
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.contracts.scheduling import AppointmentChanged
from halcyon.shared.testing.plugin import eventually

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def model_of(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


async def full_chart(h: ClinicalHarness, tenant: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A chart with one of everything clinical keeps."""
    client = await register(h, tenant, phone="+1 303 555 0100")
    cid = client["id"]
    ther = h.headers(tenant, "ther-1", ("site-1", "therapist"))

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await h.http.post(path, json=body, headers=ther)
        assert response.status_code in (200, 201), response.text
        made: dict[str, Any] = response.json()
        return made

    await post(
        f"/clients/{cid}/episodes",
        {"site_id": "site-1", "program": "MDMA-AT", "started_on": "2026-01-05",
         "diagnoses": [{"code": "F43.10", "description": "PTSD"}]},
    )  # fmt: skip
    note = await post(
        f"/clients/{cid}/notes",
        {"kind": "psychotherapy", "site_id": "site-1", "template_id": "builtin:progress-dap",
         "started_at": iso(NOW - timedelta(hours=2)), "ended_at": iso(NOW - timedelta(hours=1)),
         "clinicians": [{"staff_id": "ther-1", "role": "therapist"}], "diagnoses": ["F43.10"],
         "content": {"data": "Slept better this week", "assessment": "a", "plan": "p"}},
    )  # fmt: skip
    await post(f"/notes/{note['id']}/sign", {})
    await post(f"/notes/{note['id']}/addenda", {"text": "Late entry: called", "reason": "late"})
    await post(
        f"/clients/{cid}/vitals",
        {"protocol_id": "mdma-ptsd", "site_id": "site-1",
         "measured_at": iso(NOW - timedelta(minutes=3)), "systolic_mmhg": 130,
         "diastolic_mmhg": 85, "pulse_per_min": 72},
    )  # fmt: skip
    await post(
        f"/clients/{cid}/assessments",
        {"instrument": "phq9", "site_id": "site-1",
         "administered_at": iso(NOW - timedelta(days=40)), "items": [1] * 9},
    )  # fmt: skip
    await post(
        f"/clients/{cid}/consents",
        {"kind": "telehealth", "effective_at": iso(NOW - timedelta(days=1)),
         "signed_by_name": "Grace Hopper", "signed_at": iso(NOW - timedelta(days=1))},
    )  # fmt: skip
    for name in ("sertraline", "trazodone", "propranolol"):
        await post(
            f"/clients/{cid}/medications",
            {"name": name, "source": "client_reported", "started_on": "2025-06-01"},
        )
    await post(
        f"/clients/{cid}/allergies",
        {"substance": "penicillin", "reaction": "hives", "source": "outside_record"},
    )
    await post(f"/clients/{cid}/problems", {"code": "G47.00", "source": "clinician_observed"})
    # A visit from scheduling: completed (version 2) arrives before its booking (version
    # 1); the read model keeps the newer one.
    visit = {
        "appointment_id": f"appt-{cid}", "client_id": cid, "site_id": "site-1",
        "site_timezone": "America/Denver", "appointment_type": "psychotherapy",
        "starts_at": NOW - timedelta(hours=2), "ends_at": NOW - timedelta(hours=1),
        "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
    }  # fmt: skip
    for version, status in ((2, "completed"), (1, "booked")):
        await h.publish(
            AppointmentChanged.model_validate(
                {**visit, "change": status, "status": status, "version": version}
            ),
            tenant,
        )

    async def visit_arrived() -> bool:
        found = await h.http.get("/fhir/Appointment", params={"patient": cid}, headers=ther)
        return found.status_code == 200 and bool(found.json()["total"] == 1)

    await eventually(visit_arrived, within=30, message="appointment read model")
    return client, ther


async def test_a_clients_record_bundle_holds_every_resource_and_validates(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client, ther = await full_chart(clinical, tenant)
    cid = client["id"]
    response = await clinical.http.get(f"/clients/{cid}/record", headers=ther)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    assert bundle.type == "collection"
    by_type: dict[str, set[str]] = {}
    for entry in response.json()["entry"]:
        resource = entry["resource"]
        model_of(resource["resourceType"]).model_validate(resource)  # each entry validates
        by_type.setdefault(resource["resourceType"], set()).add(resource["id"])
        if resource["resourceType"] == "Appointment":
            assert resource["participant"][0]["actor"] == {"reference": f"Patient/{cid}"}
        elif resource["resourceType"] != "Patient":
            ref = resource.get("subject") or resource.get("patient")
            assert ref == {"reference": f"Patient/{cid}"}
    assert {k: len(v) for k, v in by_type.items()} == {
        "Patient": 1,
        "Encounter": 1,
        "DocumentReference": 2,  # the note and its addendum
        "Observation": 3,  # BP panel, pulse, PHQ-9 score
        "Condition": 2,  # the episode's diagnosis and the problem-list entry
        "MedicationStatement": 3,
        "AllergyIntolerance": 1,
        "Consent": 1,
        "Appointment": 1,
    }
    [visit] = [
        e["resource"]
        for e in response.json()["entry"]
        if e["resource"]["resourceType"] == "Appointment"
    ]
    assert visit["status"] == "fulfilled"  # version 2 kept, the late version 1 ignored
    # Every resource the FHIR API would find for this client is in the record.
    for kind in by_type.keys() - {"Patient"}:
        searched = await clinical.http.get(f"/fhir/{kind}", params={"patient": cid}, headers=ther)
        assert {e["resource"]["id"] for e in searched.json()["entry"]} == by_type[kind]

    pdf = await clinical.http.get(f"/clients/{cid}/record.pdf", headers=ther)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) > 2000
    drawn = re.findall(rb"\((.*?)(?<!\\)\) Tj", pdf.content)
    text = re.sub(r"\s+", "", b"".join(drawn).decode("latin-1"))
    readable = ("GraceHopper", client["mrn"], "sertraline", "penicillin", "Sleptbetter")
    for expected in (*readable, "Lateentry", "Medications", "Notes"):
        assert expected in text, expected

    other_agency = clinical.headers(new_tenant(), "ther-9", ("site-1", "therapist"))
    assert (
        await clinical.http.get(f"/clients/{cid}/record", headers=other_agency)
    ).status_code == 404
    biller = clinical.headers(tenant, "bill-1", ("site-1", "biller"))
    assert (
        await clinical.http.get(f"/clients/{cid}/record.pdf", headers=biller)
    ).status_code == 403

    def exports(envelopes: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [
            (e["data"]["user_id"], e["data"]["outcome"])
            for e in envelopes
            if e["tenantid"] == tenant and e["data"]["action"] == "export"
        ]

    published = await clinical.events(
        "audit.access.v1",
        until=lambda seen: (
            exports(seen).count(("ther-1", "success")) >= 2
            and ("bill-1", "denied") in exports(seen)
        ),
    )
    assert exports(published).count(("ther-1", "success")) == 2


async def test_fhir_search_pages_and_filters_and_metadata_describes_it(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client, ther = await full_chart(clinical, tenant)
    cid = client["id"]
    meta = await clinical.http.get("/fhir/metadata")
    assert meta.status_code == 200
    capability = CapabilityStatement.model_validate(meta.json())
    served = {r.type: {p.name for p in r.searchParam or []} for r in capability.rest[0].resource}  # type: ignore[index,union-attr]
    assert {"_id", "patient", "date", "_count", "_lastUpdated"} <= served["MedicationStatement"]
    assert {"Practitioner", "Organization", "Location", "DocumentReference"} <= served.keys()

    # _count=2 over three medications: a next link, followed to the last page.
    seen: list[str] = []
    url: str | None = f"/fhir/MedicationStatement?patient=Patient/{cid}&_count=2"
    pages = 0
    while url:
        page = (await clinical.http.get(url, headers=ther)).json()
        Bundle.model_validate(page)
        assert page["total"] == 3
        seen += [e["resource"]["id"] for e in page["entry"]]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].removeprefix("http://clinical") if nxt else None
        pages += 1
    assert pages == 2
    assert len(set(seen)) == 3

    async def ids(kind: str, **params: str) -> set[str]:
        response = await clinical.http.get(f"/fhir/{kind}", params=params, headers=ther)
        assert response.status_code == 200, response.text
        return {e["resource"]["id"] for e in response.json().get("entry", [])}

    # date: the PHQ-9 was 40 days ago, the vitals today.
    recent = await ids("Observation", patient=cid, date=f"ge{(TODAY - timedelta(days=7))}")
    older = await ids("Observation", patient=cid, date=f"lt{(TODAY - timedelta(days=7))}")
    assert len(recent) == 2
    assert len(older) == 1
    assert not recent & older
    # _lastUpdated: nothing changed tomorrow; everything changed since yesterday.
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert await ids("MedicationStatement", patient=cid, _lastUpdated=f"gt{tomorrow}") == set()
    assert (
        len(
            await ids(
                "MedicationStatement", patient=cid, _lastUpdated=f"ge{TODAY - timedelta(days=1)}"
            )
        )
        == 3
    )
    # _id alone finds the resource and its client (audited as that chart's read).
    [one] = seen[:1]
    assert await ids("MedicationStatement", _id=one) == {one}
    read = await clinical.http.get(f"/fhir/MedicationStatement/{one}", headers=ther)
    assert read.status_code == 200
    assert read.json()["id"] == one
    assert await ids("Patient", _id=cid) == {cid}
    stranger = clinical.headers(new_tenant(), "ther-9", ("site-1", "therapist"))
    assert (
        await clinical.http.get(f"/fhir/MedicationStatement/{one}", headers=stranger)
    ).status_code == 404
    no_patient = await clinical.http.get("/fhir/Observation", headers=ther)
    assert no_patient.status_code == 422
    bad_date = await clinical.http.get(
        "/fhir/Observation", params={"patient": cid, "date": "soon"}, headers=ther
    )
    assert bad_date.status_code == 422

    # Practitioners come from identity's staff files (the read model).
    await clinical.publish(
        StaffMemberChanged(
            staff_id="ther-1", display_name="Dr. Rosa Diaz", npi="1234567893",
            roles=[{"site": "site-1", "role": "therapist"}],
        ),
        tenant,
    )  # fmt: skip

    async def practitioner_listed() -> bool:
        return "ther-1" in await ids("Practitioner")

    await eventually(practitioner_listed, within=30, message="practitioner from staff read model")
    doctor = (await clinical.http.get("/fhir/Practitioner/ther-1", headers=ther)).json()
    assert doctor["name"][0]["text"] == "Dr. Rosa Diaz"
    assert doctor["identifier"][0] == {
        "system": "http://hl7.org/fhir/sid/us-npi",
        "value": "1234567893",
    }
    assert await ids("Organization") == {tenant}


async def test_bulk_export_completes_with_progress_and_every_ndjson_line_validates(
    clinical: ClinicalHarness,
) -> None:
    import asyncio
    import json
    import re

    tenant = new_tenant()
    first, _ = await full_chart(clinical, tenant)
    others = [await register(clinical, tenant, given_name=n) for n in ("Ada", "Alan")]
    compliance = clinical.headers(tenant, "comp-1", ("*", "compliance_officer"))
    at_one_site = clinical.headers(tenant, "comp-2", ("site-1", "compliance_officer"))
    refused = await clinical.http.get("/fhir/$export", headers=at_one_site)
    assert refused.status_code == 403
    bad_type = await clinical.http.get(
        "/fhir/$export", params={"_type": "Claim"}, headers=compliance
    )
    assert bad_type.status_code == 422

    kick = await clinical.http.get(
        "/fhir/$export", headers={**compliance, "Prefer": "respond-async"}
    )
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["content-location"].removeprefix("http://clinical")
    assert re.fullmatch(r"/fhir/\$export-status/[0-9a-f-]+", status_url)
    stranger = clinical.headers(new_tenant(), "comp-9", ("*", "compliance_officer"))
    assert (await clinical.http.get(status_url, headers=stranger)).status_code == 404

    progress: list[str] = []
    for _ in range(120):
        polled = await clinical.http.get(status_url, headers=compliance)
        if polled.status_code == 200:
            break
        assert polled.status_code == 202, polled.text
        progress.append(polled.headers["x-progress"])
        await asyncio.sleep(0.25)
    assert polled.status_code == 200, progress
    assert progress
    assert all(re.fullmatch(r"\d+% \(\d+ of \d+ clients\)", p) for p in progress)
    manifest = polled.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []

    counts: dict[str, int] = {}
    patients: set[str] = set()
    notes = 0
    for output in manifest["output"]:
        file = await clinical.http.get(
            output["url"].removeprefix("http://clinical"), headers=compliance
        )
        assert file.status_code == 200
        assert file.headers["content-type"].startswith("application/fhir+ndjson")
        lines = file.text.splitlines()
        assert len(lines) == output["count"]
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == output["type"]
            model_of(output["type"]).model_validate(resource)  # every line validates
            if output["type"] == "Patient":
                patients.add(resource["id"])
            notes += output["type"] == "DocumentReference"
        counts[output["type"]] = counts.get(output["type"], 0) + len(lines)
    assert patients == {first["id"], *(o["id"] for o in others)}
    assert notes == 2  # the signed note and its addendum, as DocumentReference
    assert counts["MedicationStatement"] == 3
    assert counts["Observation"] == 3

    def exported_clients(envelopes: list[dict[str, Any]]) -> set[str]:
        return {
            e["data"]["client_id"]
            for e in envelopes
            if e["tenantid"] == tenant
            and e["data"]["resource"] == "fhir/$export"
            and e["data"]["client_id"]
        }

    audited = await clinical.events(
        "audit.access.v1", until=lambda seen: len(exported_clients(seen)) == 3
    )
    assert exported_clients(audited) == patients

    # _type and _since narrow a later export; nothing changed since tomorrow.
    later = await clinical.http.get(
        "/fhir/$export",
        params={"_type": "Patient", "_since": (TODAY + timedelta(days=1)).isoformat()},
        headers=compliance,
    )
    later_url = later.headers["content-location"].removeprefix("http://clinical")
    for _ in range(120):
        done = await clinical.http.get(later_url, headers=compliance)
        if done.status_code == 200:
            break
        await asyncio.sleep(0.25)
    assert done.status_code == 200
    assert done.json()["output"] == []
    cancelled = await clinical.http.delete(later_url, headers=compliance)
    assert cancelled.status_code == 202
    assert (await clinical.http.get(later_url, headers=compliance)).status_code == 404
