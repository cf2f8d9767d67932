"""Who needs a second factor, and what counts as one: pure rules shared by identity (sign-in,
refresh), the gateway and every service (ADR 0103)."""

from __future__ import annotations

from collections.abc import Iterable

# Every staff role reads client records: front desk the demographics and the calendar,
# billers claims with their diagnoses, agency admins the chart, clinicians and compliance
# officers the whole record. So every person signs in with a second factor, and every
# service refuses a token of theirs that lacks one (HIPAA 164.312(d); DEA EPCS two
# factors for prescribers, 21 CFR 1311.115). ADR 0103.
SECOND_FACTOR_ROLES: frozenset[str] = frozenset(
    {
        "agency_admin",
        "front_desk",
        "therapist",
        "prescriber",
        "nurse",
        "biller",
        "compliance_officer",
    }
)
# RFC 8176 authentication method references that count as a second factor.
SECOND_FACTOR_METHODS: frozenset[str] = frozenset({"otp", "hwk", "swk", "mfa"})


def second_factor_required(roles: Iterable[str]) -> bool:
    return bool(SECOND_FACTOR_ROLES & set(roles))
