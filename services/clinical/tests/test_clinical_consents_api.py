"""42 CFR Part 2 over HTTP: no consent → refused; consent → notice; revoked → refused."""

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
from halcyon.clinical.usecases.consents import announce_expired_consents

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

NOW = datetime.now(UTC).replace(microsecond=0)
RECIPIENT = "Dr. Jane Roe, Valley Primary Care"


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def sud_chart(h: ClinicalHarness, tenant: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A client of a substance-use-disorder program: a Part 2 episode and a signed note."""
    client = await register(h, tenant)
    therapist = h.headers(tenant, "ther-1", ("site-1", "therapist"))
    episode = await h.http.post(
        f"/clients/{client['id']}/episodes",
        json={
            "site_id": "site-1",
            "program": "Outpatient SUD",
            "started_on": "2026-01-05",
            "part2": True,
            "diagnoses": [{"code": "F11.20", "description": "Opioid use disorder"}],
        },
        headers=therapist,
    )
    assert episode.status_code == 201, episode.text
    note = await h.http.post(
        f"/clients/{client['id']}/notes",
        json={
            "kind": "psychotherapy",
            "site_id": "site-1",
            "template_id": "builtin:progress-dap",
            "started_at": iso(NOW - timedelta(hours=2)),
            "ended_at": iso(NOW - timedelta(hours=1)),
            "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
            "diagnoses": ["F11.20"],
            "part2": True,
            "content": {"data": "d", "assessment": "a", "plan": "p"},
        },
        headers=therapist,
    )
    assert note.status_code == 201, note.text
    signed = await h.http.post(f"/notes/{note.json()['id']}/sign", json={}, headers=therapist)
    assert signed.status_code == 200
    return client, therapist


async def test_part2_records_need_consent_carry_the_notice_and_stop_after_revocation(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client, therapist = await sud_chart(clinical, tenant)
    compliance = clinical.headers(tenant, "comp-1", ("site-1", "compliance_officer"))
    disclose = f"/clients/{client['id']}/disclosures"
    request = {"recipient": RECIPIENT, "purpose": "treatment"}

    refused = await clinical.http.post(disclose, json=request, headers=compliance)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/part2-consent-required")

    # A general release of information is not a Part 2 consent (42 CFR 2.31).
    roi = await clinical.http.post(
        f"/clients/{client['id']}/consents",
        json={
            "kind": "release_of_information",
            "recipient": RECIPIENT,
            "effective_at": iso(NOW - timedelta(days=1)),
            "signed_by_name": "Grace Hopper",
            "signed_at": iso(NOW - timedelta(days=1)),
        },
        headers=therapist,
    )
    assert roi.status_code == 201, roi.text
    with_roi = await clinical.http.post(
        disclose, json={**request, "consent_id": roi.json()["id"]}, headers=compliance
    )
    assert with_roi.status_code == 403

    consent = await clinical.http.post(
        f"/clients/{client['id']}/consents",
        json={
            "kind": "part2",
            "recipient": RECIPIENT,
            "purpose": "treatment",
            "information_description": "SUD diagnosis and progress notes",
            "effective_at": iso(NOW - timedelta(days=1)),
            "expires_at": iso(NOW + timedelta(days=365)),
            "signed_by_name": "Grace Hopper",
            "signed_at": iso(NOW - timedelta(days=1)),
        },
        headers=therapist,
    )
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    assert consent.json()["status"] == "active"

    allowed = await clinical.http.post(
        disclose, json={**request, "consent_id": consent_id}, headers=compliance
    )
    assert allowed.status_code == 201, allowed.text
    package = allowed.json()
    assert "42 CFR part 2" in package["redisclosure_notice"]
    assert "prohibit you from making any other use or disclosure" in package["redisclosure_notice"]
    assert package["consent_copy"]["consent_id"] == consent_id  # 42 CFR 2.32(b)
    assert package["consent_copy"]["recipient"] == RECIPIENT
    assert {r["type"] for r in package["records"]} == {"note", "episode"}
    assert all(r["part2"] for r in package["records"])

    wrong_recipient = await clinical.http.post(
        disclose,
        json={**request, "recipient": "Acme Employer", "consent_id": consent_id},
        headers=compliance,
    )
    assert wrong_recipient.status_code == 403

    revoked = await clinical.http.post(
        f"/consents/{consent_id}/revoke", json={"reason": "client request"}, headers=therapist
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    after = await clinical.http.post(
        disclose, json={**request, "consent_id": consent_id}, headers=compliance
    )
    assert after.status_code == 403
    assert "revoked" in after.json()["detail"]

    # The accounting of disclosures holds exactly the one that went out.
    assert await clinical.database["disclosures"].count_documents({"tenant_id": tenant}) == 1

    events = await clinical.events(
        "clinical.consent.v1",
        until=lambda seen: any(
            e["data"]["consent_id"] == consent_id and e["data"]["status"] == "revoked" for e in seen
        ),
    )
    statuses = [e["data"]["status"] for e in events if e["data"]["consent_id"] == consent_id]
    assert statuses == ["active", "revoked"]


async def test_part2_consent_missing_required_elements_is_refused(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    response = await clinical.http.post(
        f"/clients/{client['id']}/consents",
        json={
            "kind": "part2",
            "recipient": RECIPIENT,
            "purpose": "treatment",
            "effective_at": iso(NOW),
            "signed_by_name": "G",
            "signed_at": iso(NOW),
        },
        headers=clinical.headers(tenant, "ther-1", ("site-1", "therapist")),
    )
    assert response.status_code == 422
    assert await clinical.database["consents"].count_documents({"tenant_id": tenant}) == 0


async def test_an_expired_consent_is_announced_once_and_no_longer_discloses(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client, therapist = await sud_chart(clinical, tenant)
    expires = datetime.now(UTC) + timedelta(seconds=2)
    consent = await clinical.http.post(
        f"/clients/{client['id']}/consents",
        json={
            "kind": "part2",
            "recipient": RECIPIENT,
            "purpose": "treatment",
            "information_description": "SUD records",
            "effective_at": iso(NOW - timedelta(days=1)),
            "expires_at": expires.isoformat(),
            "signed_by_name": "Grace Hopper",
            "signed_at": iso(NOW - timedelta(days=1)),
        },
        headers=therapist,
    )
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    events = await clinical.events(
        "clinical.consent.v1",
        until=lambda seen: any(
            e["data"]["consent_id"] == consent_id and e["data"]["status"] == "expired" for e in seen
        ),
    )
    statuses = [e["data"]["status"] for e in events if e["data"]["consent_id"] == consent_id]
    assert statuses == ["active", "expired"]
    # Another sweep (or a second instance) finds nothing left to announce.
    assert await announce_expired_consents(clinical.app.state.runtime) == 0
    refused = await clinical.http.post(
        f"/clients/{client['id']}/disclosures",
        json={"recipient": RECIPIENT, "purpose": "treatment", "consent_id": consent_id},
        headers=clinical.headers(tenant, "comp-1", ("site-1", "compliance_officer")),
    )
    assert refused.status_code == 403
    assert "expired" in refused.json()["detail"]
