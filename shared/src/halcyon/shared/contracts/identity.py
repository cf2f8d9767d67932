"""Events the identity service publishes, and the access-audit event every service publishes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from halcyon.shared.contracts import EventContract
from pydantic import BaseModel


class DeaRegistration(BaseModel):
    number: str
    schedules: list[str]  # e.g. ["I"], ["II", "IIN", "III", "IV", "V"]
    expires_on: date
    # Schedule I researcher registrations are tied to a protocol.
    protocol_id: str | None = None


class SiteChanged(EventContract):
    """A site was created or changed (state transfer: the whole site, every time)."""

    event_type = "halcyon.identity.site.changed.v1"
    topic = "identity.site.v1"
    subject_field = "site_id"
    example: ClassVar[dict[str, Any]] = {
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "name": "Cedar Ridge Boulder",
        "timezone": "America/Denver",
        "address": {
            "line1": "1600 Canyon Boulevard",
            "city": "Boulder",
            "state": "CO",
            "postal_code": "80302",
        },
        "dea_registrations": [
            {
                "number": "FC4827193",
                "schedules": ["I"],
                "expires_on": "2027-05-31",
                "protocol_id": "mdma-ptsd",
            },
            {
                "number": "BC6152904",
                "schedules": ["II", "IIN", "III", "IIIN", "IV", "V"],
                "expires_on": "2027-05-31",
                "protocol_id": None,
            },
        ],
        "active": True,
        "jurisdiction": "US-CO",
    }

    site_id: str
    name: str
    timezone: str  # IANA, e.g. America/Denver
    address: dict[str, str] = {}
    dea_registrations: list[DeaRegistration] = []
    active: bool = True
    # Whose rules apply: "US-CO" (ISO 3166-2 US state) or "AU" / "AU-VIC" (Australia).
    # Absent on sites created before it: read as a US site.
    jurisdiction: str | None = None


class Licence(BaseModel):
    type: str  # e.g. LCSW, MD, RN, PsyD
    number: str
    state: str
    expires_on: date


class AuthorisedPrescriberApproval(BaseModel):
    """Australian authorised-prescriber approval (TGA) for a psychedelic medicine."""

    drug: str
    ethics_approval: str
    expires_on: date
    # The condition the approval is for (TGA: MDMA for PTSD, psilocybin for
    # treatment-resistant depression); an approval covers only its indication.
    indication: str | None = None


class StaffMemberChanged(EventContract):
    """A staff member's personnel file changed (the whole file: roles, licences, DEA)."""

    event_type = "halcyon.identity.staff.changed.v1"
    topic = "identity.staff.v1"
    subject_field = "staff_id"
    example: ClassVar[dict[str, Any]] = {
        "staff_id": "01906eaf-c378-74b8-b17d-6e49deb7b9dc",
        "display_name": "Dr. Imani Okafor, MD",
        "email": "i.okafor@cedarridge.example.org",
        "roles": [{"site": "019002a9-c980-7fba-841b-02c41ed0fd8a", "role": "prescriber"}],
        "licences": [
            {"type": "MD", "number": "DR.0061842", "state": "CO", "expires_on": "2027-04-30"}
        ],
        "dea_registrations": [
            {
                "number": "BO3917254",
                "schedules": ["II", "IIN", "III", "IIIN", "IV", "V"],
                "expires_on": "2026-03-31",
                "protocol_id": None,
            }
        ],
        "authorised_prescriber_approvals": [],
        "npi": "1861493257",
        "supervisor_id": None,
        "on_call_sites": ["019002a9-c980-7fba-841b-02c41ed0fd8a"],
        "active": True,
    }

    staff_id: str
    display_name: str
    email: str | None = None
    roles: list[dict[str, str]]  # [{"site": site_id, "role": "therapist"}]
    licences: list[Licence] = []
    dea_registrations: list[DeaRegistration] = []
    authorised_prescriber_approvals: list[AuthorisedPrescriberApproval] = []
    npi: str | None = None
    supervisor_id: str | None = None
    on_call_sites: list[str] = []
    active: bool = True


class CredentialExpiring(EventContract):
    """A licence, DEA registration or approval expires within 30 days."""

    event_type = "halcyon.identity.credential.expiring.v1"
    topic = "identity.credential.v1"
    subject_field = "staff_id"
    example: ClassVar[dict[str, Any]] = {
        "staff_id": "01906eaf-c378-74b8-b17d-6e49deb7b9dc",
        "credential_type": "dea_registration",
        "identifier": "BO3917254",
        "expires_on": "2026-03-31",
        "days_left": 29,
    }

    staff_id: str
    credential_type: str  # licence | dea_registration | authorised_prescriber_approval
    identifier: str
    expires_on: date
    days_left: int


class AccessAudited(EventContract):
    """Someone read or changed health information, or was refused. Stored by identity."""

    event_type = "halcyon.audit.access.recorded.v1"
    topic = "audit.access.v1"
    subject_field = "audit_id"
    example: ClassVar[dict[str, Any]] = {
        "audit_id": "019cafa7-6c58-7b81-b7a0-43a6f767e7c9",
        "at": "2026-03-02T17:45:11Z",
        "service": "clinical",
        "user_id": "01906eaa-b680-7616-8440-883e2c14d881",
        "roles": ["therapist"],
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "action": "read",
        "resource": "clinical/client",
        "resource_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "outcome": "success",
        "reason": None,
        "break_the_glass": False,
        "request_id": "019cafa7-6c58-71f5-b914-5b24d108d7ac",
        "source_address": "10.20.4.17",
    }

    audit_id: str
    at: datetime
    service: str
    user_id: str
    roles: list[str] = []
    site_id: str | None = None
    client_id: str | None = None
    action: str  # read | create | update | sign | disclose | delete | export | login ...
    resource: str  # e.g. "clinical/client", "inventory/ledger"
    resource_id: str | None = None
    outcome: str  # success | denied | failed
    reason: str | None = None  # mandatory for break-the-glass
    break_the_glass: bool = False
    request_id: str | None = None
    source_address: str | None = None


class AccessRevoked(EventContract):
    """Sign-in sessions ended before their access tokens expire (sign-out, deactivation,
    role change, authenticator reset). Every service and the gateway refuse those tokens
    from the moment they read this, until ``expires_at`` (when the tokens die anyway)."""

    event_type = "halcyon.identity.access.revoked.v1"
    topic = "identity.access-revoked.v1"
    subject_field = "user_id"
    example: ClassVar[dict[str, Any]] = {
        "user_id": "01906eaf-c378-74b8-b17d-6e49deb7b9dc",
        "session_ids": ["0193a1c2-5d1e-7c4a-9b2f-3e8d7a6b5c41"],
        "reason": "role_changed",
        "revoked_at": "2026-12-05T09:00:00Z",
        "expires_at": "2026-12-05T09:30:00Z",
    }

    user_id: str
    session_ids: list[str]
    reason: str  # signed_out | deactivated | role_changed | mfa_reset | password_reset | ...
    revoked_at: datetime
    # After this moment every access token of these sessions has expired by itself.
    expires_at: datetime
