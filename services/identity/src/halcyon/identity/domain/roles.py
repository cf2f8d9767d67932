"""Staff roles, which of them must sign in with a second factor, and who may do what here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

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

# Roles that touch prescriptions, controlled substances or the whole audit trail sign in
# with TOTP (DEA EPCS, 21 CFR 1311.115, asks two factors for prescribers of controlled
# substances; we apply the same bar to nurses who administer them and to compliance).
MFA_REQUIRED_ROLES: frozenset[str] = frozenset({PRESCRIBER, NURSE, COMPLIANCE_OFFICER})

# Who may do what in identity itself.
MANAGE_AGENCY = {AGENCY_ADMIN}
READ_SITES = set(STAFF_ROLES)
READ_STAFF = {AGENCY_ADMIN, COMPLIANCE_OFFICER}
READ_AUDIT = {COMPLIANCE_OFFICER}
# Clinicians who may need emergency access to a chart outside their normal scope.
BREAK_THE_GLASS = {THERAPIST, PRESCRIBER, NURSE}


def mfa_required(roles: Iterable[str]) -> bool:
    return bool(MFA_REQUIRED_ROLES & set(roles))
