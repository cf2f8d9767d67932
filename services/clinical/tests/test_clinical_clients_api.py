"""Clients over HTTP on the real servers: identifiers, search, duplicates, care team,
tenant isolation, audit, and bad input refused with nothing written."""

from __future__ import annotations

from typing import Any

import pytest

# The tests dir is not on mypy_path (root pyproject); pytest imports it (rootdir mode).
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clinical,
    new_tenant,
    register,
)
from halcyon.shared.contracts.identity import Licence, StaffMemberChanged
from halcyon.shared.testing.plugin import eventually

pytestmark = pytest.mark.integration
__all__ = ["clinical"]


async def test_ssn_is_encrypted_at_rest_and_shown_masked(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(
        clinical,
        tenant,
        national_identifier={"kind": "ssn", "value": "123-45-6789"},
        pronouns="she/her",
        emergency_contact={"name": "Ann Doe", "relationship": "sister", "phone": "+1 303 555 0101"},
        contacts=[{"channel": "sms", "value": "+13035550100", "preferred": True}],
    )
    assert client["mrn"].startswith("MRN-")
    assert {"system": "ssn", "value": "•••••6789", "country": "US"} in client["identifiers"]
    assert "123-45-6789" not in str(client)
    stored = await clinical.database["clients"].find_one({"_id": client["id"]})
    assert stored is not None
    assert stored["national_identifier"]["ciphertext"].startswith("enc:v1:")
    assert "6789" not in stored["national_identifier"]["ciphertext"]
    assert "123456789" not in str(stored)
    assert "123-45-6789" not in str(stored)


async def test_likely_duplicate_warning_and_search(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    first = await register(clinical, tenant)
    second = await register(clinical, tenant, given_name="GRACE", family_name="hopper")
    assert first["possible_duplicate_of"] == []
    assert second["possible_duplicate_of"] == [first["id"]]
    assert second["duplicate_warning"]
    await register(
        clinical, tenant, given_name="Zoë", family_name="Hopkins", date_of_birth="1990-03-04"
    )
    headers = clinical.headers(tenant, "t1", ("site-1", "therapist"))

    async def search(**params: str | int) -> dict[str, Any]:
        response = await clinical.http.get("/clients", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    by_name = await search(name="Hop", limit=2)
    assert len(by_name["items"]) == 2
    assert by_name["next_cursor"]
    rest = await search(name="Hop", limit=2, cursor=str(by_name["next_cursor"]))
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert len((await search(name="hopkins zoe"))["items"]) == 1
    assert len((await search(date_of_birth="1985-12-09"))["items"]) == 2
    found = await search(mrn=first["mrn"])
    assert [c["id"] for c in found["items"]] == [first["id"]]


async def test_other_agencies_never_see_a_client(clinical: ClinicalHarness) -> None:
    tenant, other = new_tenant(), new_tenant()
    client = await register(clinical, tenant)
    outsider = clinical.headers(other, "t9", ("*", "therapist"))
    for path in (
        f"/clients/{client['id']}",
        f"/fhir/Patient/{client['id']}",
        f"/clients/{client['id']}/notes",
    ):
        response = await clinical.http.get(path, headers=outsider)
        assert response.status_code == 404, path
    listed = await clinical.http.get("/clients", params={"name": "hopper"}, headers=outsider)
    assert listed.json()["items"] == []
    inside = await clinical.http.get(
        f"/clients/{client['id']}", headers=clinical.headers(tenant, "t1", ("site-1", "therapist"))
    )
    assert inside.status_code == 200


async def test_chart_reads_are_audited_including_refusals(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    allowed = await clinical.http.get(
        f"/clients/{client['id']}", headers=clinical.headers(tenant, "t1", ("site-1", "therapist"))
    )
    denied = await clinical.http.get(
        f"/clients/{client['id']}", headers=clinical.headers(tenant, "t2", ("site-2", "therapist"))
    )
    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"

    # What the outbox relay published (pending entries leave the outbox once sent).
    def reads(envelopes: list[dict[str, Any]]) -> list[tuple[object, object]]:
        return [
            (e["data"]["user_id"], e["data"]["outcome"])
            for e in envelopes
            if e["tenantid"] == tenant and e["data"]["action"] == "read"
        ]

    published = await clinical.events(
        "audit.access.v1",
        until=lambda seen: {("t1", "success"), ("t2", "denied")} <= set(reads(seen)),
    )
    assert {("t1", "success"), ("t2", "denied")} <= set(reads(published))


async def test_care_team_shows_names_and_licences_from_identity(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    await clinical.publish(
        StaffMemberChanged(
            staff_id="staff-ther-1",
            display_name="Dr. Rosa Diaz",
            roles=[{"site": "site-1", "role": "therapist"}],
            licences=[Licence(type="LCSW", number="12345", state="CO", expires_on="2027-01-01")],
        ),
        tenant,
    )
    headers = clinical.headers(tenant, "desk-1", ("site-1", "front_desk"))
    response = await clinical.http.put(
        f"/clients/{client['id']}/care-team",
        json={"members": [{"staff_id": "staff-ther-1", "role": "primary_therapist"}]},
        headers=headers,
    )
    assert response.status_code == 200, response.text

    async def named() -> dict[str, object] | None:
        r = await clinical.http.get(f"/clients/{client['id']}", headers=headers)
        member = r.json()["care_team"][0]
        return member if member["display_name"] else None

    member = await eventually(named, message="care team shows the staff read model")
    assert member["display_name"] == "Dr. Rosa Diaz"
    assert member["licences"] == ["LCSW CO 12345"]


async def test_bad_input_is_refused_with_422_and_nothing_written(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    clinician = clinical.headers(tenant, "t1", ("site-1", "therapist"))
    future_dob = await clinical.http.post(
        "/clients",
        json={
            "given_name": "A",
            "family_name": "B",
            "date_of_birth": "2999-01-01",
            "home_site_id": "site-1",
        },
        headers=clinical.headers(tenant, "desk-1", ("site-1", "front_desk")),
    )
    bad_icd = await clinical.http.post(
        f"/clients/{client['id']}/episodes",
        json={
            "site_id": "site-1",
            "program": "PTSD",
            "started_on": "2026-01-01",
            "diagnoses": [{"code": "F43-10"}],
        },
        headers=clinician,
    )
    bad_item = await clinical.http.post(
        f"/clients/{client['id']}/assessments",
        json={
            "instrument": "phq9",
            "site_id": "site-1",
            "administered_at": "2026-11-01T10:00:00Z",
            "items": [0, 1, 2, 3, 4, 0, 0, 0, 0],
        },
        headers=clinician,
    )
    bad_ssn = await clinical.http.post(
        "/clients",
        json={
            "given_name": "A",
            "family_name": "B",
            "date_of_birth": "1999-01-01",
            "home_site_id": "site-1",
            "national_identifier": {"kind": "ssn", "value": "666-12-3456"},
        },
        headers=clinical.headers(tenant, "desk-1", ("site-1", "front_desk")),
    )
    for response in (future_dob, bad_icd, bad_item, bad_ssn):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert "date of birth" in future_dob.text
    assert "ICD-10" in bad_icd.text
    assert "out of range" in bad_item.text
    db = clinical.database
    assert await db["clients"].count_documents({"tenant_id": tenant}) == 1
    assert await db["episodes"].count_documents({"tenant_id": tenant}) == 0
    assert await db["assessments"].count_documents({"tenant_id": tenant}) == 0


async def test_same_ssn_under_another_name_is_a_likely_duplicate(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    ssn = {"kind": "ssn", "value": "234-56-7890"}
    first = await register(clinical, tenant, national_identifier=ssn)
    renamed = await register(
        clinical, tenant, given_name="Grace", family_name="Murray", national_identifier=ssn
    )
    assert renamed["possible_duplicate_of"] == [first["id"]]
    # The same number in another agency is not linked (per-tenant fingerprint).
    elsewhere = await register(clinical, new_tenant(), national_identifier=ssn)
    assert elsewhere["possible_duplicate_of"] == []


async def test_details_change_publishes_an_event_and_search_follows_the_new_name(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    home = {"line1": "2 Walnut St", "city": "Boulder", "state": "CO", "postal_code": "80302"}
    client = await register(clinical, tenant, address=home)
    desk = clinical.headers(tenant, "desk-1", ("site-1", "front_desk"))
    changed = await clinical.http.patch(
        f"/clients/{client['id']}",
        json={
            "family_name": "Murray",
            "pronouns": "she/her",
            "email": "grace@example.org",
            "address": {**home, "line1": "9 Pearl St"},
        },
        headers=desk,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["family_name"] == "Murray"
    assert changed.json()["mrn"] == client["mrn"]
    refused = await clinical.http.patch(
        f"/clients/{client['id']}", json={"given_name": None}, headers=desk
    )
    future = await clinical.http.patch(
        f"/clients/{client['id']}", json={"date_of_birth": "2999-01-01"}, headers=desk
    )
    assert refused.status_code == future.status_code == 422
    found = await clinical.http.get("/clients", params={"name": "murray"}, headers=desk)
    assert [c["id"] for c in found.json()["items"]] == [client["id"]]
    events = await clinical.events(
        "clinical.client.v1",
        until=lambda seen: any(
            e["type"] == "halcyon.clinical.client.details_changed.v1"
            and e["subject"] == client["id"]
            for e in seen
        ),
    )
    mine = [e for e in events if e["subject"] == client["id"]]
    assert [e["type"].split(".")[3] for e in mine] == ["registered", "details_changed"]
    # The address travels with the client (inventory's DEA dispensing record needs it).
    assert mine[0]["data"]["address"]["line1"] == "2 Walnut St"
    assert mine[1]["data"]["family_name"] == "Murray"
    assert mine[1]["data"]["address"]["line1"] == "9 Pearl St"


async def test_search_shows_only_clients_of_the_callers_sites(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    await register(clinical, tenant)
    response = await clinical.http.post(
        "/clients",
        json={
            "given_name": "Ada",
            "family_name": "Hopper",
            "date_of_birth": "1991-01-01",
            "home_site_id": "site-2",
        },
        headers=clinical.headers(tenant, "desk-2", ("site-2", "front_desk")),
    )
    assert response.status_code == 201
    site1 = clinical.headers(tenant, "t1", ("site-1", "therapist"))
    everywhere = clinical.headers(tenant, "admin", ("*", "agency_admin"))
    one = await clinical.http.get("/clients", params={"name": "hopper"}, headers=site1)
    both = await clinical.http.get("/clients", params={"name": "hopper"}, headers=everywhere)
    assert [c["home_site_id"] for c in one.json()["items"]] == ["site-1"]
    assert len(both.json()["items"]) == 2


async def test_break_the_glass_opens_a_chart_read_only_and_is_flagged(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    # A therapist of another site, with an emergency grant for this client in the token.
    emergency = clinical.headers(tenant, "t-other", ("site-2", "therapist"), btg=[client["id"]])
    read = await clinical.http.get(f"/clients/{client['id']}/notes", headers=emergency)
    write = await clinical.http.post(
        f"/clients/{client['id']}/assessments",
        json={
            "instrument": "gad7",
            "site_id": "site-1",
            "administered_at": "2026-11-01T10:00:00Z",
            "items": [0] * 7,
        },
        headers=emergency,
    )
    assert read.status_code == 200
    assert write.status_code == 403

    # What the outbox relay published (pending entries leave the outbox once sent).
    def emergency_reads(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            e["data"]
            for e in envelopes
            if e["tenantid"] == tenant
            and e["data"]["user_id"] == "t-other"
            and e["data"]["action"] == "read"
        ]

    published = await clinical.events("audit.access.v1", until=emergency_reads)
    flagged = emergency_reads(published)
    assert flagged
    assert all(a["break_the_glass"] for a in flagged)
