"""What must hold before a dose is dispensed for a dosing session (pure rules)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from halcyon.inventory.domain import dosing
from halcyon.inventory.domain.quantities import Micrograms
from halcyon.shared.errors import Conflict, RuleViolation

# Doses are dispensed for a session that is under way, never for a booking.
DOSING_STATUSES = {"checked_in", "started"}
# Clocks differ a little between the dosing room and the server.
CLOCK_SKEW = timedelta(minutes=5)


def administered_at(requested: datetime | None, now: datetime) -> datetime:
    """When the dose was given (now unless stated), never in the future."""
    at = requested.astimezone(UTC) if requested else now
    if at > now + CLOCK_SKEW:
        raise RuleViolation("a dose cannot be recorded as administered in the future")
    return at


def require_dosing_appointment(
    appointment: dict[str, Any] | None, appointment_id: str, site_id: str
) -> dict[str, Any]:
    """The appointment scheduling announced, at the stock's site, checked in or started."""
    if appointment is None:
        raise RuleViolation(
            f"scheduling has not told inventory about appointment {appointment_id}",
            field="appointment_id",
        )
    if appointment["site_id"] != site_id:
        raise RuleViolation("the appointment is at another site than this stock")
    if appointment["status"] not in DOSING_STATUSES:
        raise RuleViolation(
            f"the appointment is {appointment['status']}; doses are dispensed for a checked-in"
            " or started session"
        )
    return appointment


def require_independent_witness(witness_id: str, administered_by: str) -> None:
    """21 CFR 1304.22(c): the witness is someone other than who administers."""
    if witness_id == administered_by:
        raise RuleViolation(
            "the witness must be someone other than who administers", field="witness_id"
        )


def check_session_dose(
    protocol: dosing.DoseProtocol,
    session: Mapping[str, Any] | None,
    *,
    supplemental: bool,
    quantity_ug: Micrograms,
    at: datetime,
) -> None:
    """The dose fits the session so far: one initial dose, then at most one supplemental."""
    if supplemental:
        if session is None or "initial" not in session:
            raise RuleViolation("a supplemental dose follows an initial dose of this session")
        initial = dosing.GivenDose(
            int(session["initial"]["quantity_ug"]), session["initial"]["administered_at"]
        )
        dosing.check_supplemental_dose(protocol, initial, quantity_ug, at)
        return
    if session is not None:
        raise Conflict("this appointment already had its initial dose")
    dosing.check_initial_dose(protocol, quantity_ug)
