"""Protocol dose rules for dosing sessions.

The MDMA-assisted therapy protocol (MAPS MPP phase 3, as the FDA reviewed it)
gives an initial dose of 80 or 120 mg and, optionally, a supplemental dose of
half the initial dose 90-150 minutes after it. Psilocybin and esketamine
protocols give one fixed dose per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from halcyon.shared.errors import RuleViolation


@dataclass(frozen=True)
class DoseProtocol:
    protocol_id: str
    substance: str
    initial_doses_mg: frozenset[float]
    supplemental_fraction: float | None = None  # of the initial dose
    supplemental_window_minutes: tuple[int, int] | None = None


PROTOCOLS: dict[str, DoseProtocol] = {
    p.protocol_id: p
    for p in (
        DoseProtocol(
            "mdma-ptsd",
            "MDMA",
            frozenset({80.0, 120.0}),
            supplemental_fraction=0.5,
            supplemental_window_minutes=(90, 150),
        ),
        DoseProtocol("psilocybin-trd", "psilocybin", frozenset({25.0})),
        DoseProtocol("esketamine-trd", "esketamine", frozenset({56.0, 84.0})),
    )
}


@dataclass(frozen=True)
class GivenDose:
    quantity_mg: float
    administered_at: datetime


def protocol_for(protocol_id: str | None, substance: str) -> DoseProtocol:
    if not protocol_id or protocol_id not in PROTOCOLS:
        raise RuleViolation(
            f"the appointment's protocol {protocol_id!r} has no dose rules here; "
            "controlled substances are dispensed for a dosing protocol only"
        )
    protocol = PROTOCOLS[protocol_id]
    if protocol.substance.lower() != substance.lower():
        raise RuleViolation(
            f"protocol {protocol_id} doses {protocol.substance}, not {substance}",
            protocol_id=protocol_id,
        )
    return protocol


def check_initial_dose(protocol: DoseProtocol, quantity_mg: float) -> None:
    if quantity_mg not in protocol.initial_doses_mg:
        allowed = " or ".join(f"{d:g} mg" for d in sorted(protocol.initial_doses_mg))
        raise RuleViolation(
            f"{quantity_mg:g} mg is outside protocol {protocol.protocol_id}: the initial dose"
            f" is {allowed}",
            protocol_id=protocol.protocol_id,
        )


def check_supplemental_dose(
    protocol: DoseProtocol, initial: GivenDose, quantity_mg: float, at: datetime
) -> None:
    if protocol.supplemental_fraction is None or protocol.supplemental_window_minutes is None:
        raise RuleViolation(
            f"protocol {protocol.protocol_id} has no supplemental dose",
            protocol_id=protocol.protocol_id,
        )
    expected = initial.quantity_mg * protocol.supplemental_fraction
    if abs(quantity_mg - expected) > 1e-9:
        raise RuleViolation(
            f"the supplemental dose is half the initial dose: {expected:g} mg, not"
            f" {quantity_mg:g} mg",
            protocol_id=protocol.protocol_id,
        )
    low, high = protocol.supplemental_window_minutes
    minutes = (at - initial.administered_at).total_seconds() / 60
    if not low <= minutes <= high:
        raise RuleViolation(
            f"the supplemental dose is given {low}-{high} min after the initial dose, not"
            f" {minutes:.0f} min",
            protocol_id=protocol.protocol_id,
        )
