"""The pure dose-gating rules (ADR 0403), attacked directly: a dose is only ever given
in its protocol's dosing session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from halcyon.inventory.domain.gating import dose_conditions
from halcyon.shared.protocol_floors import FLOORS

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
SIGNED = NOW - timedelta(days=2)


def cleared(protocol_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    consent = {
        "kind": "psychedelic_informed",
        "protocol_id": protocol_id,
        "status": "active",
        "expires_at": None,
    }
    screening = {"protocol_id": protocol_id, "eligible": True, "signed_at": SIGNED}
    return [consent], [screening]


def session(step: str | None) -> dict[str, Any]:
    return {
        "protocol_id": "psilocybin-trd",
        "protocol_step": step,
        "clinicians": [{"staff_id": "t1", "role": "therapist"}],
        "present_staff_ids": ["t1"],
    }


def test_a_dose_in_a_preparation_session_is_refused() -> None:
    floor = FLOORS["psilocybin-trd"]
    consents, screenings = cleared("psilocybin-trd")
    assert dose_conditions(floor, session("dosing"), consents, screenings, NOW) == []
    for step in ("preparation", "integration", None):
        failed = dose_conditions(floor, session(step), consents, screenings, NOW)
        assert [f.code for f in failed] == ["dosing_session"], step
