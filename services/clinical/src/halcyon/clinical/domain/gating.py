"""The protocol's conditions, re-checked when a dosing note is signed (docs/adr/0403).

Pure rules over clinical's own records. The signature is the last step at which a
dose given against a revoked consent or an ineligible screening can be noticed; a
session that happened must still be documentable, so the signer may sign after
acknowledging each failed condition by its code, and the acknowledgement is kept on
the signed note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halcyon.clinical.domain.consents import consent_status
from halcyon.shared.protocol_floors import floor_of

CONSENT_KIND = "psychedelic_informed"


@dataclass(frozen=True)
class FailedCondition:
    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


def signature_conditions(
    dosing: Mapping[str, Any],
    consents: Iterable[Mapping[str, Any]],
    screenings: Iterable[Mapping[str, Any]],
    now: datetime,
    clinicians: Sequence[Mapping[str, Any]] | None = None,
) -> list[FailedCondition]:
    """Every protocol condition a dosing note fails when it is signed. Given the note's
    clinicians, only its therapist_ids who are on the note as clinicians count
    (the client's id or a stranger listed as a therapist do not make a dyad). The role
    is not checked here: an esketamine session is observed by a nurse under the REMS."""
    pid = dosing["protocol_id"]
    failed: list[FailedCondition] = []
    if not any(
        c.get("kind") == CONSENT_KIND
        and c.get("protocol_id") == pid
        and consent_status(dict(c), now) == "active"
        for c in consents
    ):
        failed.append(
            FailedCondition("informed_consent", f"no active {CONSENT_KIND} consent for {pid}")
        )
    mine = sorted(
        (s for s in screenings if s.get("protocol_id") == pid), key=lambda s: s["signed_at"]
    )
    if not mine:
        failed.append(FailedCondition("eligible_screening", f"no screening for {pid}"))
    elif not mine[-1].get("eligible"):
        failed.append(
            FailedCondition("eligible_screening", f"the latest screening for {pid} is not eligible")
        )
    floor = floor_of(pid)
    named = set(dosing.get("therapist_ids") or [])
    if floor is not None and clinicians is not None:
        named &= {c.get("staff_id") for c in clinicians}
    therapists = len(named)
    if floor is not None and therapists < floor.clinicians_present:
        failed.append(
            FailedCondition(
                "clinicians_present",
                f"{floor.name} needs {floor.clinicians_present} {floor.clinician_role}(s) "
                f"present ({floor.source}); the note names {therapists}",
            )
        )
    return failed


def unacknowledged(
    failed: Sequence[FailedCondition], acknowledged: Iterable[str]
) -> list[FailedCondition]:
    """The failed conditions the signer has not acknowledged by code."""
    seen = set(acknowledged)
    return [f for f in failed if f.code not in seen]
