"""Which credentials expire soon: licences, DEA registrations, authorised-prescriber approvals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

WARNING_DAYS = 30


@dataclass(frozen=True)
class ExpiringCredential:
    credential_type: str  # licence | dea_registration | authorised_prescriber_approval
    identifier: str
    expires_on: date
    days_left: int

    @property
    def key(self) -> str:
        # A renewed credential has a new expiry date, so it is warned about again.
        return f"{self.credential_type}:{self.identifier}:{self.expires_on.isoformat()}"


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def expiring_credentials(
    personnel_file: Mapping[str, Any], today: date, window_days: int = WARNING_DAYS
) -> list[ExpiringCredential]:
    """Credentials that expire within ``window_days`` from ``today`` (and have not yet expired)."""
    found: list[ExpiringCredential] = []
    sources: Sequence[tuple[str, str, Any]] = (
        ("licence", "licences", lambda c: f"{c['type']} {c['state']} {c['number']}"),
        ("dea_registration", "dea_registrations", lambda c: c["number"]),
        (
            "authorised_prescriber_approval",
            "authorised_prescriber_approvals",
            lambda c: f"{c['drug']} {c['ethics_approval']}",
        ),
    )
    for credential_type, field, identify in sources:
        for credential in personnel_file.get(field) or []:
            expires_on = _as_date(credential["expires_on"])
            days_left = (expires_on - today).days
            if 0 <= days_left <= window_days:
                found.append(
                    ExpiringCredential(credential_type, identify(credential), expires_on, days_left)
                )
    return found
