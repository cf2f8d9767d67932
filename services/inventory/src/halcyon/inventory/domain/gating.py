"""Gating every dose (docs/adr/0403): the protocol's conditions, re-checked per dispense.

Pure rules over facts inventory holds in its read models: clinical's consents and
screenings, scheduling's appointment (who is in the room). Every failed condition
is reported, each with a stable code, so a nurse sees everything to fix at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from halcyon.shared.protocol_floors import ProtocolFloor

CONSENT_KIND = "psychedelic_informed"
# A revoked consent is final: signing again is a new consent (a new id), so a late or
# redelivered "active" for a revoked consent id must not re-enable dosing.
FINAL_CONSENT_STATUSES = ("revoked",)


@dataclass(frozen=True)
class FailedCondition:
    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    # Stored instants are UTC; a naive one read back from the database is UTC too.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def consent_condition(
    consents: Iterable[Mapping[str, Any]], protocol_id: str, at: datetime
) -> list[FailedCondition]:
    active = [
        c
        for c in consents
        if c.get("kind") == CONSENT_KIND
        and c.get("protocol_id") == protocol_id
        and c.get("status") == "active"
        and ((expires := _aware(c.get("expires_at"))) is None or expires > at)
    ]
    if active:
        return []
    return [
        FailedCondition(
            "informed_consent",
            f"no active signed {CONSENT_KIND} consent for protocol {protocol_id}",
        )
    ]


def screening_condition(
    screenings: Iterable[Mapping[str, Any]], protocol_id: str
) -> list[FailedCondition]:
    mine = [s for s in screenings if s.get("protocol_id") == protocol_id]
    if not mine:
        return [FailedCondition("eligible_screening", f"no screening for protocol {protocol_id}")]
    latest = max(mine, key=lambda s: _aware(s["signed_at"]) or datetime.min.replace(tzinfo=UTC))
    if not latest.get("eligible"):
        return [
            FailedCondition(
                "eligible_screening",
                f"the latest screening for protocol {protocol_id} is not eligible",
            )
        ]
    return []


def presence_condition(
    floor: ProtocolFloor,
    clinicians: Sequence[Mapping[str, Any]],
    present_staff_ids: Sequence[str] | None,
) -> list[FailedCondition]:
    """The protocol's clinicians in the room (as scheduling recorded at check-in/start;
    not recorded: the booked team)."""
    here = (
        set(present_staff_ids)
        if present_staff_ids is not None
        else {c["staff_id"] for c in clinicians}
    )
    count = sum(
        1 for c in clinicians if c["staff_id"] in here and c.get("role") == floor.clinician_role
    )
    if count >= floor.clinicians_present:
        return []
    return [
        FailedCondition(
            "clinicians_present",
            f"{floor.name} needs {floor.clinicians_present} {floor.clinician_role}(s) present "
            f"for a dose ({floor.source}); {count} checked in",
        )
    ]


def session_condition(appointment: Mapping[str, Any]) -> list[FailedCondition]:
    """A dose is given in the protocol's dosing session only: a preparation or
    integration appointment has neither the dosing room nor the monitoring."""
    if appointment.get("protocol_step") == "dosing":
        return []
    return [
        FailedCondition(
            "dosing_session",
            f"appointment type {appointment.get('appointment_type')} is not a dosing session",
        )
    ]


def dose_conditions(
    floor: ProtocolFloor,
    appointment: Mapping[str, Any],
    consents: Iterable[Mapping[str, Any]],
    screenings: Iterable[Mapping[str, Any]],
    at: datetime,
) -> list[FailedCondition]:
    """Every failed condition of one dose under its protocol."""
    pid = floor.protocol_id
    return [
        *session_condition(appointment),
        *consent_condition(consents, pid, at),
        *screening_condition(screenings, pid),
        *presence_condition(
            floor, appointment.get("clinicians") or [], appointment.get("present_staff_ids")
        ),
    ]
