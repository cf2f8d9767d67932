"""Controlled-substance handling rules, each with the regulation it implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from halcyon.inventory.domain.substances import covers, needs_exact_count, needs_order_form
from halcyon.shared.errors import Forbidden, RuleViolation

ADJUSTING_ROLE = "compliance_officer"
EXACT_COUNT_CONTAINER_UNITS = 1000


def require_order_form(schedule: str, order_form_number: str | None) -> None:
    """21 CFR 1305.03 / 1304.22(a)(2)(iv): Schedule I-II are received only against a
    DEA Form 222 (or CSOS order), whose number is recorded with the receipt."""
    if needs_order_form(schedule) and not (order_form_number and order_form_number.strip()):
        raise RuleViolation(
            f"receiving Schedule {schedule} needs the DEA Form 222 or CSOS order number",
            rule="21 CFR 1305.03",
            field="order_form_number",
        )


def require_unexpired_lot(lot: Mapping[str, Any], on: date) -> None:
    """21 CFR 1304.22 / 1317.05: expired stock is held for return or destruction,
    never dispensed."""
    expires = lot.get("expires_on")
    if isinstance(expires, str):
        expires = date.fromisoformat(expires)
    if isinstance(expires, date) and expires < on:
        raise RuleViolation(
            f"lot {lot.get('lot_number')} expired on {expires} and cannot be dispensed",
            rule="21 CFR 1317.05",
            lot_id=lot.get("_id"),
        )


def require_two_witnesses(actor_id: str, witness_ids: Sequence[str], what: str) -> None:
    """21 CFR 1317.95(d) (and the DEA's waste guidance for practitioners): destruction and
    wastage are witnessed by two authorised employees, neither of them the person doing it."""
    distinct = {w.strip() for w in witness_ids if w and w.strip()}
    if len(distinct) < 2 or len(distinct) != len(witness_ids):
        raise RuleViolation(
            f"{what} needs two distinct witnesses", rule="21 CFR 1317.95(d)", field="witness_ids"
        )
    if actor_id in distinct:
        raise RuleViolation(
            f"the person recording the {what} cannot witness it",
            rule="21 CFR 1317.95(d)",
            field="witness_ids",
        )


def require_adjusting_role(roles: set[str]) -> None:
    """21 CFR 1304.21(a): the book is changed only with an accountable record; our policy
    lets only a compliance officer adjust balances."""
    if ADJUSTING_ROLE not in roles:
        raise Forbidden("only a compliance officer may adjust controlled-substance balances")


def require_active_prescriber(staff: Mapping[str, Any] | None, schedule: str, on: date) -> None:
    """21 CFR 1306.03: a prescription (order) is issued only by a practitioner registered
    for the schedule; the registration must be current on the day of administration."""
    if staff is None or not staff.get("active", True):
        raise RuleViolation("the prescriber is not an active staff member known to inventory")
    registrations = list(staff.get("dea_registrations", []))
    current = [r for r in registrations if date.fromisoformat(str(r["expires_on"])) >= on]
    if not registrations or not current:
        raise RuleViolation(
            f"prescriber {staff.get('display_name', staff.get('_id'))} has no active DEA"
            " registration",
            rule="21 CFR 1306.03",
        )
    if not any(covers(list(r.get("schedules", [])), schedule) for r in current):
        raise RuleViolation(
            f"prescriber's active DEA registration does not cover Schedule {schedule}",
            rule="21 CFR 1306.03",
        )


def require_exact_count(schedule: str, estimated: bool, units_per_container: int = 0) -> None:
    """21 CFR 1304.11(e)(3): Schedule I-II are counted exactly; III-V may be estimated
    unless the container holds more than 1,000 tablets or capsules."""
    if not estimated:
        return
    if needs_exact_count(schedule):
        raise RuleViolation(
            f"Schedule {schedule} must be counted exactly, not estimated",
            rule="21 CFR 1304.11(e)(3)",
        )
    if units_per_container > EXACT_COUNT_CONTAINER_UNITS:
        raise RuleViolation(
            f"containers of more than {EXACT_COUNT_CONTAINER_UNITS} units are counted exactly",
            rule="21 CFR 1304.11(e)(3)(iii)",
        )


SECURE_STORAGE_KINDS = frozenset({"safe", "cabinet", "vault"})


def require_secure_storage(
    schedule: str, location: Mapping[str, Any], registration: Mapping[str, Any]
) -> None:
    """21 CFR 1301.75(b): Schedule I-II are stored in a securely locked, substantially
    constructed cabinet or safe, at the registered location. A receipt or transfer into a
    location that is not registered to this registration (and its site), or is recorded
    as unlocked, is refused."""
    if not needs_order_form(schedule):  # Schedule I-II, as for Form 222
        return
    if location.get("registration_id") != registration.get("_id") or (
        location.get("site_id") not in {None, registration.get("site_id")}
    ):
        raise RuleViolation(
            f"{location.get('name')} is not a storage location registered to DEA"
            f" {registration.get('dea_number')}",
            rule="21 CFR 1301.75(b)",
            field="location_id",
        )
    if location.get("locked") is not True or location.get("kind") not in SECURE_STORAGE_KINDS:
        raise RuleViolation(
            f"Schedule {schedule} goes only into a locked safe, cabinet or vault;"
            f" {location.get('name')} is recorded as"
            f" {'unlocked' if location.get('locked') is not True else location.get('kind')}",
            rule="21 CFR 1301.75(b)",
            field="location_id",
        )
