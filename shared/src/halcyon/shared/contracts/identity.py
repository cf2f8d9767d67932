"""Events the identity service publishes, and the access-audit event every service publishes."""

from __future__ import annotations

from datetime import date, datetime

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

    site_id: str
    name: str
    timezone: str  # IANA, e.g. America/Denver
    address: dict[str, str] = {}
    dea_registrations: list[DeaRegistration] = []
    active: bool = True


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


class StaffMemberChanged(EventContract):
    """A staff member's personnel file changed (the whole file: roles, licences, DEA)."""

    event_type = "halcyon.identity.staff.changed.v1"
    topic = "identity.staff.v1"
    subject_field = "staff_id"

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
