"""Staff roles, which of them must sign in with a second factor, and who may do what here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from halcyon.shared.grants import ALL_SITES
from halcyon.shared.second_factor import SECOND_FACTOR_ROLES

AGENCY_ADMIN = "agency_admin"
FRONT_DESK = "front_desk"
THERAPIST = "therapist"
PRESCRIBER = "prescriber"
NURSE = "nurse"
BILLER = "biller"
COMPLIANCE_OFFICER = "compliance_officer"
SERVICE = "service"  # machine callers (client credentials), never a person's role

StaffRole = Literal[
    "agency_admin", "front_desk", "therapist", "prescriber", "nurse", "biller", "compliance_officer"
]
STAFF_ROLES: frozenset[str] = frozenset(
    {AGENCY_ADMIN, FRONT_DESK, THERAPIST, PRESCRIBER, NURSE, BILLER, COMPLIANCE_OFFICER}
)

# Every role reads client records, so every role signs in with TOTP (HIPAA 164.312(d);
# DEA EPCS, 21 CFR 1311.115, for prescribers). One list for identity and every service;
# a staff member always holds at least one role, so nobody signs in with a password only.
MFA_REQUIRED_ROLES: frozenset[str] = SECOND_FACTOR_ROLES

# Who may do what in identity itself.
MANAGE_AGENCY = {AGENCY_ADMIN}
READ_SITES = set(STAFF_ROLES)
READ_STAFF = {AGENCY_ADMIN, COMPLIANCE_OFFICER}
READ_AUDIT = {COMPLIANCE_OFFICER}
# Clinicians who may need emergency access to a chart outside their normal scope.
BREAK_THE_GLASS = {THERAPIST, PRESCRIBER, NURSE}


def mfa_required(roles: Iterable[str]) -> bool:
    return bool(MFA_REQUIRED_ROLES & set(roles))


def grants_of(roles: Iterable[Mapping[str, str]]) -> set[tuple[str, str]]:
    return {(r["site"], r["role"]) for r in roles}


def access_changed(
    old_roles: Iterable[Mapping[str, str]],
    new_roles: Iterable[Mapping[str, str]],
    was_active: bool,
    is_active: bool,
) -> str | None:
    """Why the person's live sessions must end after a personnel-file change, or None.

    Any change of roles ends them: a token must never carry roles the person no longer
    has, and new roles that need a second factor must start from a sign-in that gave one.
    """
    if was_active and not is_active:
        return "deactivated"
    if grants_of(old_roles) != grants_of(new_roles):
        return "role_changed"
    return None


def refresh_needs_second_factor(roles: Iterable[Mapping[str, str]], second_factor: bool) -> bool:
    """A refresh must not hand roles that need a second factor to a session without one."""
    return not second_factor and mfa_required(r["role"] for r in roles)


def sites_to_hold(sites: Iterable[str]) -> list[str | None]:
    """Where one must hold a role to act on a person who works at ``sites``: at every one
    of them; a person who works agency-wide ("*"), or nowhere yet, needs it agency-wide.
    ``None`` (first, when the person has sites) means "at any site"."""
    named = set(sites)
    first: str | None = ALL_SITES if ALL_SITES in named or not named else None
    return [first, *sorted(named - {ALL_SITES})]


def sites_of(personnel_file: Mapping[str, Any]) -> set[str]:
    """The sites a personnel file's roles are held at."""
    return {str(r["site"]) for r in personnel_file.get("roles") or []}
