"""Group sessions on the real servers: one note, each member's chart sees only their own
section, another agency sees nothing, and signing bills 90853 for each member present."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

# The tests dir is not on mypy_path (root pyproject); pytest imports it (rootdir mode).
from clinical_testkit import (  # type: ignore[import-not-found]
    CLIENT,
    ClinicalHarness,
    clinical,
    new_tenant,
    register,
)

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

START = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def group_note(members: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "site_id": "site-1",
        "name": "Thursday trauma-recovery group",
        "started_at": iso(START),
        "ended_at": iso(START + timedelta(minutes=90)),
        "clinicians": [
            {"staff_id": "ther-1", "role": "therapist"},
            {"staff_id": "ther-2", "role": "counselor"},
        ],
        "shared_section": "Psychoeducation on the window of tolerance; grounding practice.",
        "members": members,
        **kw,
    }


async def test_group_note_each_member_sees_only_their_section_and_present_members_are_billed(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    http = clinical.http
    ada = await register(clinical, tenant, given_name="Adaline", family_name="Quillfeather")
    bob = await register(clinical, tenant, given_name="Bartholomew", family_name="Zanzibar")
    cyd = await register(clinical, tenant, given_name="Cydonia", family_name="Marlowe")
    people = {c["id"]: c for c in (ada, bob, cyd)}
    facilitator = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    members = [
        {
            "client_id": ada["id"],
            "attendance": "present",
            "section": "ADA-SECTION: named a trigger and used grounding.",
            "diagnoses": ["F43.10"],
        },
        {
            "client_id": bob["id"],
            "attendance": "present",
            "section": "BOB-SECTION: tearful, stayed engaged.",
            "diagnoses": ["F32.1"],
        },
        {"client_id": cyd["id"], "attendance": "absent", "section": "CYD-SECTION: no show."},
    ]
    created = await http.post("/group-sessions", json=group_note(members), headers=facilitator)
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    assert created.json()["status"] == "draft"

    # A member from another agency is not found, and nothing is written.
    stranger = await register(clinical, new_tenant())
    bad = group_note([*members[:2], {"client_id": stranger["id"], "attendance": "present"}])
    refused = await http.post("/group-sessions", json=bad, headers=facilitator)
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    stored = await clinical.database["group_sessions"].count_documents({"tenant_id": tenant})
    assert stored == 1

    signed = await http.post(f"/group-sessions/{session_id}/sign", headers=facilitator)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"
    assert len(signed.json()["content_hash"]) == 64
    # Locked: no edit, no second signature.
    edit = await http.put(
        f"/group-sessions/{session_id}", json=group_note(members), headers=facilitator
    )
    again = await http.post(f"/group-sessions/{session_id}/sign", headers=facilitator)
    assert edit.status_code == 409
    assert again.status_code == 409

    # Each member's chart: the shared section, their own section, no one else.
    for client_id, own in (
        (ada["id"], "ADA-SECTION"),
        (bob["id"], "BOB-SECTION"),
        (cyd["id"], "CYD-SECTION"),
    ):
        read = await http.get(f"/clients/{client_id}/group-notes/{session_id}", headers=facilitator)
        listed = await http.get(f"/clients/{client_id}/group-notes", headers=facilitator)
        assert read.status_code == 200, read.text
        assert listed.status_code == 200, listed.text
        assert listed.json() == [read.json()]
        view = read.json()
        assert view["shared_section"].startswith("Psychoeducation")
        assert view["section"].startswith(own)
        assert view["other_members"] == 2
        text = read.text
        for other_id, other in people.items():
            if other_id == client_id:
                continue
            assert other_id not in text
            assert other["given_name"] not in text
            assert other["family_name"] not in text
        for section in {"ADA-SECTION", "BOB-SECTION", "CYD-SECTION"} - {own}:
            assert section not in text

    # The right of access: Ada's exported record holds her view of the group note only.
    record = await http.get(f"/clients/{ada['id']}/record", headers=facilitator)
    assert record.status_code == 200, record.text
    [group_doc] = [
        e["resource"]
        for e in record.json()["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
        and e["resource"]["type"]["coding"][0]["code"] == "group"
    ]
    exported = base64.b64decode(group_doc["content"][0]["attachment"]["data"]).decode()
    assert "ADA-SECTION" in exported
    assert "2 other members" in exported
    assert "BOB-SECTION" not in exported
    assert "CYD-SECTION" not in exported
    assert bob["id"] not in record.text
    assert "Bartholomew" not in record.text

    # Another agency learns nothing, through any path.
    outsider = clinical.headers(new_tenant(), "ther-1", ("*", "therapist"))
    for path in (
        f"/group-sessions/{session_id}",
        f"/clients/{ada['id']}/group-notes/{session_id}",
        f"/clients/{ada['id']}/group-notes",
    ):
        assert (await http.get(path, headers=outsider)).status_code == 404

    # Billing: one 90853 encounter per member present, none for the absent member.
    present = signed.json()["members"]
    encounters = {m["client_id"]: m.get("encounter_id") for m in present}
    assert encounters[cyd["id"]] is None
    billed = {encounters[ada["id"]], encounters[bob["id"]]}
    assert None not in billed
    assert len(billed) == 2
    events = await clinical.events(
        "clinical.encounter.v1",
        until=lambda seen: billed <= {e["subject"] for e in seen},
    )
    mine = [e["data"] for e in events if e["tenantid"] == tenant]
    assert sorted(e["client_id"] for e in mine) == sorted([ada["id"], bob["id"]])
    for data in mine:
        assert data["kind"] == "group"
        assert data["service_codes"] == ["90853"]
        assert data["psychotherapy_minutes"] == 90
    assert {e["client_id"]: e["diagnoses"] for e in mine} == {
        ada["id"]: ["F43.10"],
        bob["id"]: ["F32.1"],
    }

    # Every read was audited on the chart it read.
    def audited(envelopes: list[dict[str, Any]]) -> set[tuple[object, ...]]:
        return {
            (e["data"]["client_id"], e["data"]["action"], e["data"]["resource"])
            for e in envelopes
            if e["tenantid"] == tenant
        }

    expected = {(c, "read", "clinical/group-note") for c in people} | {
        (c, "sign", "clinical/group-note") for c in people
    }
    published = await clinical.events(
        "audit.access.v1", until=lambda seen: expected <= audited(seen)
    )
    assert expected <= audited(published)


async def test_group_note_needs_chart_access_to_every_member_and_a_diagnosis_to_bill(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    here = await register(clinical, tenant)
    registered = await clinical.http.post(
        "/clients",
        json={**CLIENT, "given_name": "Otto", "home_site_id": "site-2"},
        headers=clinical.headers(tenant, "desk-2", ("site-2", "front_desk")),
    )
    assert registered.status_code == 201, registered.text
    there = registered.json()
    facilitator = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    members = [
        {"client_id": here["id"], "attendance": "present", "diagnoses": ["F43.10"]},
        {"client_id": there["id"], "attendance": "present", "diagnoses": ["F43.10"]},
    ]
    # A member whose chart the facilitator may not open (another site) refuses the note.
    denied = await clinical.http.post(
        "/group-sessions", json=group_note(members), headers=facilitator
    )
    assert denied.status_code == 403, denied.text
    both = clinical.headers(tenant, "ther-1", ("site-1", "therapist"), ("site-2", "therapist"))
    undiagnosed = [members[0], {**members[1], "diagnoses": []}]
    created = await clinical.http.post(
        "/group-sessions", json=group_note(undiagnosed), headers=both
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    # Only the author signs; a member present without a diagnosis blocks the signature.
    other = clinical.headers(tenant, "ther-2", ("site-1", "therapist"), ("site-2", "therapist"))
    assert (
        await clinical.http.post(f"/group-sessions/{session_id}/sign", headers=other)
    ).status_code == 403
    unsigned = await clinical.http.post(f"/group-sessions/{session_id}/sign", headers=both)
    assert unsigned.status_code == 422, unsigned.text
    fixed = await clinical.http.put(
        f"/group-sessions/{session_id}", json=group_note(members), headers=both
    )
    assert fixed.status_code == 200, fixed.text
    signed = await clinical.http.post(f"/group-sessions/{session_id}/sign", headers=both)
    assert signed.status_code == 200
    assert signed.json()["status"] == "signed"
    # A client of the agency who was not in the group has no such note in their chart.
    outsider = await register(clinical, tenant, given_name="Nonmember")
    missing = await clinical.http.get(
        f"/clients/{outsider['id']}/group-notes/{session_id}", headers=both
    )
    assert missing.status_code == 404
    assert (
        await clinical.http.get(f"/clients/{outsider['id']}/group-notes", headers=both)
    ).json() == []
