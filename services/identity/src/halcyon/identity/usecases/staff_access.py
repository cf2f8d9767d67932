"""Who may act on a staff member's records: a role held at every site they work at.

Through the one audited access check (``halcyon.shared.access``): a staff member not in
the caller's agency is audited as ``failed`` (404), a refusal as ``denied`` (403).
"""

from __future__ import annotations

from collections.abc import Iterable

from halcyon.identity.domain.roles import sites_to_hold
from halcyon.identity.store import StaffRepository
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import NotFound
from halcyon.shared.mongo import Document


async def require_at_every_site(
    access: RecordAccess,
    roles: Iterable[str],
    sites: Iterable[str],
    *,
    action: str,
    resource: str,
    resource_id: str | None = None,
) -> None:
    """The caller holds one of ``roles`` at every site of ``sites`` (the first refusal is
    audited and raised)."""
    wanted = frozenset(roles)
    for site in sites_to_hold(sites):
        await access.require(
            wanted, site, action=action, resource=resource, resource_id=resource_id
        )


async def open_staff_member(
    access: RecordAccess, staff: StaffRepository, staff_id: str, *, action: str, resource: str
) -> Document:
    """The staff member ``staff_id`` of the caller's agency (not yet any role check)."""
    member = await staff.get(access.tenant_id, staff_id)
    if member is None:
        await access.audit.record(
            access.caller,
            action=action,
            resource=resource,
            resource_id=staff_id,
            outcome="failed",
            reason="no such staff member in the caller's agency",
            request=access.request,
        )
        raise NotFound(f"no staff member {staff_id} in your agency")
    return member
