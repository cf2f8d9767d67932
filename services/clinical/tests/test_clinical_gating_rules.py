"""The dosing note's signature conditions (ADR 0403), attacked directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from halcyon.clinical.domain.gating import signature_conditions

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
CONSENT = {
    "kind": "psychedelic_informed",
    "protocol_id": "mdma-ptsd",
    "status": "active",
    "signed_at": NOW - timedelta(days=3),
    "effective_at": NOW - timedelta(days=3),
}
SCREENING = {"protocol_id": "mdma-ptsd", "eligible": True, "signed_at": NOW - timedelta(days=2)}
TEAM = [
    {"staff_id": "ther-1", "role": "therapist"},
    {"staff_id": "nurse-1", "role": "nurse"},
]


def codes(therapist_ids: list[str]) -> list[str]:
    dosing = {"protocol_id": "mdma-ptsd", "therapist_ids": therapist_ids}
    failed = signature_conditions(dosing, [CONSENT], [SCREENING], NOW, clinicians=TEAM)
    return [f.code for f in failed]


def test_only_the_notes_therapists_count_toward_the_dyad() -> None:
    # The client's own id, or someone not on the note, does not make a dyad.
    assert codes(["ther-1", "client-1"]) == ["clinicians_present"]
    assert codes(["ther-1", "staff-elsewhere"]) == ["clinicians_present"]
    assert codes(["ther-1", "ther-1"]) == ["clinicians_present"]
    both = [*TEAM, {"staff_id": "ther-2", "role": "therapist"}]
    dosing = {"protocol_id": "mdma-ptsd", "therapist_ids": ["ther-1", "ther-2"]}
    assert signature_conditions(dosing, [CONSENT], [SCREENING], NOW, clinicians=both) == []
