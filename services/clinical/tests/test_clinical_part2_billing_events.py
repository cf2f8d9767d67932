"""What billing needs from clinical for 42 CFR Part 2 and audio-only telehealth, on the
real servers: EncounterSigned says part2 and audio_only; ConsentChanged carries the
Part 2 consent's recipient and purpose."""

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


def note(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "psychotherapy",
        "site_id": "site-1",
        "template_id": "builtin:progress-dap",
        "started_at": iso(NOW - timedelta(hours=2)),
        "ended_at": iso(NOW - timedelta(hours=1)),
        "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
        "diagnoses": ["F43.10"],
        "psychotherapy_minutes": 55,
        "content": {"data": "d", "assessment": "a", "plan": "p"},
    }
    body.update(changes)
    return body


async def test_encounter_signed_says_part2_and_audio_only_and_consents_say_for_whom(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    http = clinical.http
    episode = await http.post(
        f"/clients/{client['id']}/episodes",
        json={"site_id": "site-1", "program": "Outpatient SUD", "started_on": "2026-01-05",
              "part2": True, "diagnoses": [{"code": "F43.10", "description": "PTSD"}]},
        headers=therapist,
    )  # fmt: skip
    assert episode.status_code == 201, episode.text
    drafts = {
        "plain": note(),
        "smoker": note(diagnoses=["F43.10", "F17.210"]),
        "alcohol": note(diagnoses=["F43.10", "F10.20"]),
        "program": note(episode_id=episode.json()["id"]),
        "phone": note(telehealth=True, audio_only=True, place_of_service="10"),
    }
    ids: dict[str, str] = {}
    for name, body in drafts.items():
        created = await http.post(f"/clients/{client['id']}/notes", json=body, headers=therapist)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
        signed = await http.post(f"/notes/{ids[name]}/sign", json={}, headers=therapist)
        assert signed.status_code == 200, signed.text
    # Audio-only is telehealth: an in-person audio-only note is refused.
    refused = await http.post(
        f"/clients/{client['id']}/notes", json=note(audio_only=True), headers=therapist
    )
    assert refused.status_code == 422

    events = await clinical.events(
        "clinical.encounter.v1",
        until=lambda seen: set(ids.values()) <= {e["subject"] for e in seen},
    )
    by_note = {e["subject"]: e["data"] for e in events if e["subject"] in ids.values()}
    part2 = {name: by_note[i]["part2"] for name, i in ids.items()}
    assert part2 == {
        "plain": False,
        "smoker": False,  # nicotine is not a substance use disorder under 42 CFR 2.11
        "alcohol": True,
        "program": True,
        "phone": False,
    }
    assert by_note[ids["phone"]]["audio_only"] is True
    assert by_note[ids["plain"]]["audio_only"] is False

    consent = await http.post(
        f"/clients/{client['id']}/consents",
        json={"kind": "part2", "recipient": "Acme Health", "purpose": "payment",
              "information_description": "claims for SUD treatment",
              "effective_at": iso(NOW - timedelta(days=1)),
              "expires_at": iso(NOW + timedelta(days=365)),
              "signed_by_name": "Ada Byron", "signed_at": iso(NOW - timedelta(days=1))},
        headers=therapist,
    )  # fmt: skip
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    changes = await clinical.events(
        "clinical.consent.v1",
        until=lambda seen: any(e["data"]["consent_id"] == consent_id for e in seen),
    )
    [given] = [e["data"] for e in changes if e["data"]["consent_id"] == consent_id]
    assert (given["recipient"], given["purpose"], given["status"]) == (
        "Acme Health",
        "payment",
        "active",
    )
