"""Controlled-substance schedules and what a DEA registration covers.

Schedules follow 21 CFR 1308: ``I`` … ``V``; ``IIN``/``IIIN`` (non-narcotic) are
recorded as such on a registration but cover the same schedule for our rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from halcyon.shared.contracts.partner import AdministrationRoute
from halcyon.shared.errors import RuleViolation

Schedule = Literal["I", "II", "III", "IV", "V"]
SCHEDULES: tuple[Schedule, ...] = ("I", "II", "III", "IV", "V")
# 21 CFR 1304.04(h): Schedule I-II records are kept separately from all others.
SEPARATE_RECORD_SCHEDULES: frozenset[str] = frozenset({"I", "II"})


def normalise_schedule(value: str) -> Schedule:
    """``"IIN"`` → ``"II"``, ``"iii"`` → ``"III"``; anything else is refused."""
    cleaned = value.strip().upper()
    if cleaned.endswith("N") and cleaned[:-1] in SCHEDULES:
        cleaned = cleaned[:-1]
    if cleaned not in SCHEDULES:
        raise ValueError(f"{value!r} is not a controlled-substance schedule (I-V)")
    return cleaned


def covers(schedules: list[str], schedule: str) -> bool:
    wanted = normalise_schedule(schedule)
    return any(normalise_schedule(s) == wanted for s in schedules)


def needs_order_form(schedule: str) -> bool:
    """21 CFR 1305.03: Schedule I-II are ordered only on DEA Form 222 or its CSOS equivalent."""
    return normalise_schedule(schedule) in SEPARATE_RECORD_SCHEDULES


def needs_exact_count(schedule: str) -> bool:
    """21 CFR 1304.11(e)(3): Schedule I-II are counted exactly; III-V may be estimated
    (unless a container holds more than 1,000 units, which the caller checks)."""
    return normalise_schedule(schedule) in SEPARATE_RECORD_SCHEDULES


def registration_covers(
    registration: Mapping[str, Any], schedule: str, on: date, *, protocol_id: str | None = None
) -> None:
    """Refuse unless an (unexpired) registration covers ``schedule``.

    21 CFR 1301.13: a registrant may handle only the schedules on its registration,
    and only while it is current. 21 CFR 1301.18 / 1301.32: Schedule I is handled only
    under a researcher registration for the approved protocol.
    """
    schedules = [str(s) for s in registration.get("schedules", [])]
    if not covers(schedules, schedule):
        raise RuleViolation(
            f"registration {registration.get('dea_number')} does not cover Schedule {schedule}",
            rule="21 CFR 1301.13",
        )
    expires = registration.get("expires_on")
    if isinstance(expires, str):
        expires = date.fromisoformat(expires)
    if isinstance(expires, date) and expires < on:
        raise RuleViolation(
            f"registration {registration.get('dea_number')} expired on {expires}",
            rule="21 CFR 1301.13",
        )
    if normalise_schedule(schedule) == "I":
        if registration.get("kind") != "researcher" or not registration.get("protocol_id"):
            raise RuleViolation(
                "Schedule I substances need a Schedule I researcher registration tied to a "
                "protocol",
                rule="21 CFR 1301.18",
            )
        if protocol_id is not None and registration.get("protocol_id") != protocol_id:
            raise RuleViolation(
                f"the Schedule I registration is for protocol {registration.get('protocol_id')},"
                f" not {protocol_id}",
                rule="21 CFR 1301.18",
            )


# Dosage-form words that tell the route; an injectable (IV or IM?) tells nothing for sure.
_ROUTE_BY_FORM_WORD: tuple[tuple[str, AdministrationRoute], ...] = (
    ("nasal", "intranasal"),
    ("sublingual", "sublingual"),
    ("troche", "sublingual"),
    ("lozenge", "sublingual"),
    ("capsule", "oral"),
    ("tablet", "oral"),
    ("oral", "oral"),
)


def route_of(form: str) -> AdministrationRoute | None:
    """The route a product's dosage form implies ("nasal spray device" → intranasal),
    or None when the form does not settle it, rather than a guess reported to a registry."""
    words = form.lower()
    for word, route in _ROUTE_BY_FORM_WORD:
        if word in words:
            return route
    return None
