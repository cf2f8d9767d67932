"""Signed notes on the real servers: locked (HTTP and repository), hashed, addenda linked,
co-signature, the billing event on Kafka, dispensed doses attached."""

from __future__ import annotations

import asyncio
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
from halcyon.clinical.domain.notes import content_hash
from halcyon.clinical.store import NoteRepository
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.inventory import DoseDispensed
from halcyon.shared.mongo import OutboxWriter
from halcyon.shared.testing.plugin import eventually

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

START = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def soap(author: str, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "psychotherapy",
        "site_id": "site-1",
        "template_id": "builtin:progress-soap",
        "started_at": iso(START),
        "ended_at": iso(START + timedelta(minutes=53)),
        "clinicians": [{"staff_id": author, "role": "therapist"}],
        "diagnoses": ["F43.10"],
        "psychotherapy_minutes": 53,
        "content": {
            "subjective": "sleeping better",
            "objective": "calm",
            "assessment": "improving",
            "plan": "continue weekly",
        },
        **kw,
    }


async def test_signed_note_is_locked_hashed_and_corrected_only_by_addenda(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    author = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    http = clinical.http
    created = await http.post(f"/clients/{client['id']}/notes", json=soap("ther-1"), headers=author)
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]
    # A draft can be edited by its author.
    edited = await http.put(
        f"/notes/{note_id}", json=soap("ther-1", psychotherapy_minutes=50), headers=author
    )
    assert edited.status_code == 200
    assert edited.json()["psychotherapy_minutes"] == 50

    signed = await http.post(f"/notes/{note_id}/sign", json={}, headers=author)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"
    assert len(signed.json()["content_hash"]) == 64
    assert signed.json()["compliance_flags"] == []

    # Another agency cannot read, edit or even learn that the note exists.
    outsider = clinical.headers(new_tenant(), "ther-1", ("*", "therapist"))
    for response in (
        await http.get(f"/notes/{note_id}", headers=outsider),
        await http.put(f"/notes/{note_id}", json=soap("ther-1"), headers=outsider),
        await http.post(
            f"/notes/{note_id}/addenda", json={"text": "x", "reason": "y"}, headers=outsider
        ),
    ):
        assert response.status_code == 404

    # Every edit path is refused, and the stored note is unchanged.
    # The outbox relay marks the sign event published meanwhile: compare the note itself.
    chart_fields = {"_outbox": 0, "_outbox_pending": 0, "_outbox_version": 0}
    before = await clinical.database["notes"].find_one({"_id": note_id}, chart_fields)
    put = await http.put(
        f"/notes/{note_id}", json=soap("ther-1", diagnoses=["F32.9"]), headers=author
    )
    delete = await http.delete(f"/notes/{note_id}", headers=author)
    resign = await http.post(f"/notes/{note_id}/sign", json={}, headers=author)
    for response in (put, delete, resign):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
    # A direct repository update (bypassing the API) matches nothing: status must be draft.
    repo = NoteRepository(clinical.database, OutboxWriter())
    assert (
        await repo.update(tenant, {"_id": note_id}, {"$set": {"content.plan": "rewritten"}}) is None
    )
    assert await repo.delete(tenant, {"_id": note_id}) == 0
    after = await clinical.database["notes"].find_one({"_id": note_id}, chart_fields)
    assert after == before

    verification = (await http.get(f"/notes/{note_id}/verification", headers=author)).json()
    assert verification["valid"]
    assert verification["content_hash"] == verification["recomputed_hash"]
    assert content_hash(after) == signed.json()["content_hash"]

    addendum = await http.post(
        f"/notes/{note_id}/addenda",
        json={"text": "Client also reported a nightmare on Tuesday.", "reason": "late entry"},
        headers=author,
    )
    assert addendum.status_code == 201, addendum.text
    assert addendum.json()["addendum_of"] == note_id
    assert addendum.json()["status"] == "signed"
    read = (await http.get(f"/notes/{note_id}", headers=author)).json()
    assert read["addenda"] == [addendum.json()["id"]]
    assert read["content"]["plan"] == "continue weekly"
    # Addenda are locked too.
    add_put = await http.put(f"/notes/{addendum.json()['id']}", json=soap("ther-1"), headers=author)
    assert add_put.status_code == 409

    # Tampering with the stored note is detected by the hash.
    await clinical.database["notes"].update_one(
        {"_id": note_id}, {"$set": {"content.plan": "forged"}}
    )
    tampered = (await http.get(f"/notes/{note_id}/verification", headers=author)).json()
    assert tampered["valid"] is False


async def test_supervised_clinician_needs_cosignature_before_billing_sees_it(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    await clinical.publish(
        StaffMemberChanged(
            staff_id="intern-1",
            display_name="Intern",
            supervisor_id="sup-1",
            roles=[{"site": "site-1", "role": "therapist"}],
            npi=None,
        ),
        tenant,
    )
    await clinical.publish(
        StaffMemberChanged(
            staff_id="sup-1",
            display_name="Supervisor",
            npi="1234567893",
            roles=[{"site": "site-1", "role": "therapist"}],
        ),
        tenant,
    )

    async def staff_known() -> bool:
        known: int = await clinical.database["staff"].count_documents({"tenant_id": tenant})
        return known == 2

    await eventually(staff_known, message="staff read model fed from identity events")
    intern = clinical.headers(tenant, "intern-1", ("site-1", "therapist"))
    supervisor = clinical.headers(tenant, "sup-1", ("site-1", "therapist"))
    other = clinical.headers(tenant, "ther-9", ("site-1", "therapist"))
    note = await clinical.http.post(
        f"/clients/{client['id']}/notes", json=soap("intern-1"), headers=intern
    )
    note_id = note.json()["id"]
    signed = await clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=intern)
    assert signed.json()["status"] == "awaiting_cosign"
    assert signed.json()["supervisor_id"] == "sup-1"
    assert (
        await clinical.http.put(f"/notes/{note_id}", json=soap("intern-1"), headers=intern)
    ).status_code == 409
    assert (await clinical.http.post(f"/notes/{note_id}/cosign", headers=other)).status_code == 403
    cosigned = await clinical.http.post(f"/notes/{note_id}/cosign", headers=supervisor)
    assert cosigned.status_code == 200, cosigned.text
    assert cosigned.json()["status"] == "signed"
    assert cosigned.json()["cosigned_by"] == "sup-1"
    again = await clinical.http.post(f"/notes/{note_id}/cosign", headers=supervisor)
    assert again.status_code == 409
    verified = await clinical.http.get(f"/notes/{note_id}/verification", headers=supervisor)
    assert verified.json()["valid"]

    events = await clinical.events(
        "clinical.encounter.v1",
        until=lambda seen: any(e["subject"] == note_id for e in seen),
    )
    mine = [e for e in events if e["subject"] == note_id]
    assert len(mine) == 1  # published on co-signature, not when the intern signed


async def test_dosing_note_billing_event_addendum_revision_and_dispensed_doses(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    lead = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    dosed = START + timedelta(minutes=15)
    body = {
        "kind": "dosing",
        "site_id": "site-1",
        "template_id": "builtin:dosing",
        "appointment_id": "appt-1",
        "started_at": iso(START),
        "ended_at": iso(START + timedelta(hours=8)),
        "clinicians": [
            {
                "staff_id": "ther-2",
                "role": "therapist",
                "monitoring_role": "second",
                "minutes": 465,
            },
            {"staff_id": "ther-1", "role": "therapist", "monitoring_role": "first", "minutes": 465},
        ],
        "diagnoses": ["F43.10"],
        "content": {"narrative": "Session uneventful.", "discharge_status": "oriented, calm"},
        "dosing": {
            "protocol_id": "mdma-ptsd",
            "medicine": "mdma",
            "dose_mg": 120,
            "administered_at": iso(dosed),
            "supplemental_dose": {
                "dose_mg": 60,
                "administered_at": iso(dosed + timedelta(hours=2)),
            },
            "monitoring_log": [{"at": iso(dosed + timedelta(hours=1)), "observation": "calm"}],
            "adverse_events": [
                {
                    "description": "jaw tightness",
                    "severity": "mild",
                    "onset_at": iso(dosed + timedelta(hours=1)),
                }
            ],
            "therapist_ids": ["ther-1", "ther-2"],
        },
    }
    created = await clinical.http.post(f"/clients/{client['id']}/notes", json=body, headers=lead)
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]
    # No consent, no screening on the chart: the signature names both (ADR 0403) and
    # the note stays a draft; the session is documented once each is acknowledged.
    refused = await clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=lead)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/signature-refused")
    failed = {c["code"] for c in refused.json()["failed_conditions"]}
    assert failed == {"informed_consent", "eligible_screening"}, refused.text
    half = await clinical.http.post(
        f"/notes/{note_id}/sign",
        json={"acknowledged_conditions": ["informed_consent"]},
        headers=lead,
    )
    assert [c["code"] for c in half.json()["failed_conditions"]] == ["eligible_screening"]
    signed = await clinical.http.post(
        f"/notes/{note_id}/sign",
        json={"acknowledged_conditions": sorted(failed)},
        headers=lead,
    )
    assert signed.status_code == 200, signed.text
    stored = await clinical.database["notes"].find_one({"_id": note_id})
    assert stored is not None
    assert {c["code"] for c in stored["acknowledged_conditions"]} == failed

    # A signature over acknowledged conditions is visible in the audit trail, naming them.
    def acknowledged_sign(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            e["data"]
            for e in seen
            if e["data"].get("resource_id") == note_id
            and e["data"].get("action") == "sign"
            and e["data"].get("outcome") == "success"
        ]

    audits = await clinical.events(
        "audit.access.v1", until=lambda seen: bool(acknowledged_sign(seen))
    )
    [entry] = acknowledged_sign(audits)
    assert entry["reason"] is not None, entry
    assert all(code in entry["reason"] for code in failed), entry
    await clinical.publish(
        DoseDispensed(
            ledger_entry_id="led-1",
            registration_id="reg-1",
            site_id="site-1",
            client_id=client["id"],
            appointment_id="appt-1",
            substance="mdma",
            product_id="p1",
            lot_id="lot-1",
            quantity_mg=120,
            administered_by="ther-1",
            witness_id="ther-2",
            prescriber_id="pres-1",
            administered_at=dosed,
        ),
        tenant,
    )

    async def attached() -> list[dict[str, Any]]:
        note = (await clinical.http.get(f"/notes/{note_id}", headers=lead)).json()
        doses: list[dict[str, Any]] = note["dispensed_doses"]
        return doses

    doses = await eventually(attached, message="dispensed dose attached to the dosing note")
    assert doses[0]["lot_id"] == "lot-1"
    assert doses[0]["quantity_mg"] == 120
    # Attaching the dose did not touch the signed note.
    verified = await clinical.http.get(f"/notes/{note_id}/verification", headers=lead)
    assert verified.json()["valid"]

    correction = await clinical.http.post(
        f"/notes/{note_id}/addenda",
        json={
            "text": "Primary diagnosis corrected.",
            "reason": "coding error",
            "billing_correction": {"diagnoses": ["F43.12"]},
        },
        headers=lead,
    )
    assert correction.status_code == 201
    assert correction.json()["revision"] == 2

    events = await clinical.events(
        "clinical.encounter.v1",
        until=lambda seen: sum(e["subject"] == note_id for e in seen) >= 2,
    )
    first, second = [e["data"] for e in events if e["subject"] == note_id]
    assert first["kind"] == "dosing"
    assert first["revision"] == 1
    assert [c["monitoring_role"] for c in first["clinicians"]] == ["first", "second"]
    assert first["monitoring_minutes"] == 465
    assert first["diagnoses"] == ["F43.10"]
    assert first["place_of_service"] == "11"
    assert first["telehealth"] is False
    assert first["service_codes"] == ["0820T", "0821T"]
    assert second["revision"] == 2
    assert second["diagnoses"] == ["F43.12"]
    assert second["addendum_id"] == correction.json()["id"]
    for data in (first, second):
        text = str(data)
        assert "uneventful" not in text
        assert "jaw" not in text
        assert "content" not in data


async def test_service_date_follows_the_sites_time_zone(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    await clinical.publish(
        SiteChanged(site_id="site-1", name="Boulder", timezone="America/Denver"), tenant
    )

    async def site_known() -> bool:
        found: int = await clinical.database["sites"].count_documents({"tenant_id": tenant})
        return found == 1

    await eventually(site_known, message="site read model fed from identity events")
    client = await register(clinical, tenant)
    author = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    evening = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 19:00 in Denver on the 19th
    note = await clinical.http.post(
        f"/clients/{client['id']}/notes",
        json=soap("ther-1", started_at=iso(evening), ended_at=iso(evening + timedelta(minutes=53))),
        headers=author,
    )
    note_id = note.json()["id"]
    assert (
        await clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=author)
    ).status_code == 200
    events = await clinical.events(
        "clinical.encounter.v1", until=lambda seen: any(e["subject"] == note_id for e in seen)
    )
    [signed] = [e["data"] for e in events if e["subject"] == note_id]
    assert signed["service_date"] == "2026-11-19"
    assert signed["service_codes"] == ["90837"]
    registered = await clinical.events(
        "clinical.client.v1", until=lambda seen: any(e["subject"] == client["id"] for e in seen)
    )
    [mine] = [e["data"] for e in registered if e["subject"] == client["id"]]
    assert mine["timezone"] == "America/Denver"


async def test_concurrent_signatures_lock_the_note_exactly_once(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    author = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))

    async def draft() -> str:
        note = await clinical.http.post(
            f"/clients/{client['id']}/notes", json=soap("ther-1"), headers=author
        )
        note_id: str = note.json()["id"]
        return note_id

    note_id = await draft()
    signs = await asyncio.gather(
        *[clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=author) for _ in range(4)]
    )
    assert sorted(r.status_code for r in signs) == [200, 409, 409, 409]
    winner = next(r for r in signs if r.status_code == 200).json()
    stored = await clinical.database["notes"].find_one({"_id": note_id})
    assert stored is not None
    assert stored["content_hash"] == winner["content_hash"]

    # A signature racing an edit never hashes content it did not see: whatever the
    # interleaving, the stored note is either a draft or verifies against its hash.
    for _ in range(3):
        raced = await draft()
        sign, edit = await asyncio.gather(
            clinical.http.post(f"/notes/{raced}/sign", json={}, headers=author),
            clinical.http.put(
                f"/notes/{raced}", json=soap("ther-1", diagnoses=["F32.9"]), headers=author
            ),
        )
        assert sign.status_code in (200, 409)
        assert edit.status_code in (200, 409)
        assert (sign.status_code, edit.status_code) != (409, 409)
        check = (await clinical.http.get(f"/notes/{raced}/verification", headers=author)).json()
        if sign.status_code == 200:
            assert check["status"] == "signed"
            assert check["valid"] is True
        else:
            assert check["status"] == "draft"
