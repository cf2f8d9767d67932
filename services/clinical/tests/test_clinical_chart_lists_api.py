"""Medication, allergy and problem lists over HTTP, and screening reading them."""

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

TODAY = datetime.now(UTC).date()


async def test_an_ssri_on_the_medication_list_makes_mdma_screening_ineligible(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    prescriber = clinical.headers(tenant, "pres-1", ("site-1", "prescriber"))
    history = {
        "screened_on": TODAY.isoformat(),
        "systolic_bp": 118,
        "diastolic_bp": 76,
        "qtc_ms": 410,
        "diagnoses": ["F43.10"],
    }
    screen = f"/clients/{client['id']}/screenings"
    before = await clinical.http.post(
        screen, json={"protocol_id": "mdma-ptsd", "history": history}, headers=prescriber
    )
    assert before.status_code == 201
    assert before.json()["eligible"] is True

    added = await clinical.http.post(
        f"/clients/{client['id']}/medications",
        json={
            "name": "sertraline",
            "drug_class": "ssri",
            "dose": "100 mg daily",
            "started_on": (TODAY - timedelta(days=200)).isoformat(),
            "source": "client_reported",
            "verification_status": "confirmed",
        },
        headers=prescriber,
    )
    assert added.status_code == 201, added.text
    assert added.json()["recorded_by"] == "pres-1"

    after = await clinical.http.post(
        screen, json={"protocol_id": "mdma-ptsd", "history": history}, headers=prescriber
    )
    assert after.status_code == 201, after.text
    result = after.json()
    assert result["eligible"] is False
    assert result["decision"] == "ineligible"
    assert [r["code"] for r in result["reasons"]] == ["interacting_medication_washout"]
    assert (
        "sertraline (ssri) (medication list) is still being taken" in result["reasons"][0]["detail"]
    )
    # The screening keeps what it evaluated, list entries included.
    assert result["history"]["medications"][0]["on_medication_list"] is True

    # Stopped today: still within the 14-day washout, still ineligible, with the end date.
    stopped = await clinical.http.post(
        f"/medications/{added.json()['id']}/stop",
        json={"stopped_on": TODAY.isoformat(), "reason": "tapered for MDMA-AT"},
        headers=prescriber,
    )
    assert stopped.status_code == 200, stopped.text
    again = await clinical.http.post(
        screen, json={"protocol_id": "mdma-ptsd", "history": history}, headers=prescriber
    )
    detail = again.json()["reasons"][0]["detail"]
    assert f"washout ends {TODAY + timedelta(days=14)}" in detail

    # Marked a mistake: the list no longer excludes.
    mistaken = await clinical.http.patch(
        f"/medications/{added.json()['id']}",
        json={"verification_status": "entered_in_error"},
        headers=prescriber,
    )
    assert mistaken.status_code == 200, mistaken.text
    clean = await clinical.http.post(
        screen, json={"protocol_id": "mdma-ptsd", "history": history}, headers=prescriber
    )
    assert clean.json()["eligible"] is True


async def test_lists_check_roles_dates_and_agency_and_page(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    biller = clinical.headers(tenant, "bill-1", ("site-1", "biller"))
    elsewhere = clinical.headers(tenant, "ther-2", ("site-2", "therapist"))
    stranger = clinical.headers(new_tenant(), "ther-3", ("site-1", "therapist"))
    allergies = f"/clients/{client['id']}/allergies"
    peanut = {"substance": "peanut", "category": "food", "source": "client_reported"}

    for headers, code in ((biller, 403), (elsewhere, 403), (stranger, 404)):
        refused = await clinical.http.post(allergies, json=peanut, headers=headers)
        assert refused.status_code == code, refused.text
    future = await clinical.http.post(
        allergies,
        json={**peanut, "started_on": (TODAY + timedelta(days=3)).isoformat()},
        headers=therapist,
    )
    assert future.status_code == 422
    for substance in ("peanut", "penicillin", "latex"):
        made = await clinical.http.post(
            allergies, json={**peanut, "substance": substance}, headers=therapist
        )
        assert made.status_code == 201, made.text
    problem = await clinical.http.post(
        f"/clients/{client['id']}/problems",
        json={"code": "f4310", "description": "PTSD", "source": "clinician_observed"},
        headers=therapist,
    )
    assert problem.status_code == 201
    assert problem.json()["code"] == "F43.10"

    first = await clinical.http.get(allergies, params={"limit": 2}, headers=therapist)
    assert first.status_code == 200
    assert len(first.json()["items"]) == 2
    rest = await clinical.http.get(
        allergies, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=therapist
    )
    assert [a["substance"] for a in first.json()["items"] + rest.json()["items"]] == [
        "peanut",
        "penicillin",
        "latex",
    ]
    assert rest.json()["next_cursor"] is None
    latex_id = rest.json()["items"][0]["id"]
    other = await clinical.http.patch(
        f"/allergies/{latex_id}", json={"severity": "severe"}, headers=stranger
    )
    assert other.status_code == 404
    await clinical.http.post(
        f"/allergies/{latex_id}/stop", json={"stopped_on": TODAY.isoformat()}, headers=therapist
    )
    twice = await clinical.http.post(
        f"/allergies/{latex_id}/stop", json={"stopped_on": TODAY.isoformat()}, headers=therapist
    )
    assert twice.status_code == 409
    current = await clinical.http.get(allergies, params={"current": "true"}, headers=therapist)
    assert [a["substance"] for a in current.json()["items"]] == ["peanut", "penicillin"]

    def audited(envelopes: list[dict[str, Any]]) -> set[tuple[object, ...]]:
        return {
            (e["data"]["user_id"], e["data"]["action"], e["data"]["resource"], e["data"]["outcome"])
            for e in envelopes
            if e["tenantid"] == tenant
        }

    expected = {
        ("ther-1", "create", "clinical/allergy", "success"),
        ("ther-1", "read", "clinical/allergy", "success"),
        ("ther-1", "update", "clinical/allergy", "success"),
        ("bill-1", "create", "clinical/allergy", "denied"),
        ("ther-2", "create", "clinical/allergy", "denied"),
    }
    published = await clinical.events(
        "audit.access.v1", until=lambda seen: expected <= audited(seen)
    )
    assert expected <= audited(published)
