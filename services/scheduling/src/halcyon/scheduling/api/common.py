"""What every scheduling router shares: roles and the id pattern."""

from __future__ import annotations

from halcyon.shared.access import RecordAccess

SCHEDULERS = frozenset({"front_desk", "agency_admin", "therapist", "prescriber", "nurse"})
READERS = SCHEDULERS | {"compliance_officer", "biller"}
ADMINS = frozenset({"agency_admin"})
AGENCY_WIDE = "*"
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


async def audit_read_of_clients(
    access: RecordAccess, client_ids: set[str], *, resource: str, site_id: str
) -> None:
    """A page of records shows these clients' data: one audit entry per client."""
    for client in sorted(client_ids):
        await access.audit.record(
            access.caller,
            action="read",
            resource=resource,
            client_id=client,
            site_id=site_id,
            request=access.request,
        )
