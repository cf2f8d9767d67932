"""Protocol dose rules for dosing sessions.

The MDMA-assisted therapy protocol (MAPS MPP phase 3, as the FDA reviewed it)
gives an initial dose of 80 or 120 mg and, optionally, a supplemental dose of
half the initial dose 90-150 minutes after it. Psilocybin and esketamine
protocols give one fixed dose per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from halcyon.inventory.domain.quantities import Micrograms, mg_text
from halcyon.shared.errors import RuleViolation


@dataclass(frozen=True)
class DoseProtocol:
    protocol_id: str
    substance: str
    initial_doses_ug: frozenset[Micrograms]
    # The supplemental dose is initial * numerator / denominator, exactly.
    supplemental_fraction: tuple[int, int] | None = None
    supplemental_window_minutes: tuple[int, int] | None = None


PROTOCOLS: dict[str, DoseProtocol] = {
    p.protocol_id: p
    for p in (
        DoseProtocol(
            "mdma-ptsd",
            "MDMA",
            frozenset({80_000, 120_000}),
            supplemental_fraction=(1, 2),
            supplemental_window_minutes=(90, 150),
        ),
        DoseProtocol("psilocybin-trd", "psilocybin", frozenset({25_000})),
        DoseProtocol("esketamine-trd", "esketamine", frozenset({56_000, 84_000})),
    )
}


@dataclass(frozen=True)
class GivenDose:
    quantity_ug: Micrograms
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


def check_initial_dose(protocol: DoseProtocol, quantity_ug: Micrograms) -> None:
    if quantity_ug not in protocol.initial_doses_ug:
        allowed = " or ".join(f"{mg_text(d)} mg" for d in sorted(protocol.initial_doses_ug))
        raise RuleViolation(
            f"{mg_text(quantity_ug)} mg is outside protocol {protocol.protocol_id}: the initial"
            f" dose is {allowed}",
            protocol_id=protocol.protocol_id,
        )


def check_supplemental_dose(
    protocol: DoseProtocol, initial: GivenDose, quantity_ug: Micrograms, at: datetime
) -> None:
    if protocol.supplemental_fraction is None or protocol.supplemental_window_minutes is None:
        raise RuleViolation(
            f"protocol {protocol.protocol_id} has no supplemental dose",
            protocol_id=protocol.protocol_id,
        )
    numerator, denominator = protocol.supplemental_fraction
    if quantity_ug * denominator != initial.quantity_ug * numerator:
        expected = mg_text(initial.quantity_ug * numerator // denominator)
        raise RuleViolation(
            f"the supplemental dose is half the initial dose: {expected} mg, not"
            f" {mg_text(quantity_ug)} mg",
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
