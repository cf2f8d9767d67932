"""Ids a caller names, resolved in the caller's agency before anything is written (ADR 0011).

A service owns few entities; the sites, staff, clients and appointments a request
names belong to other services, and each service keeps a read model of them fed by
their events. An id is accepted only when that read model holds it *in the caller's
tenant* — another agency's id and a made-up id look the same: not here.

- an id in the path that is not found → 404 problem (``NotFound``);
- an id in the body that is not found → 422 problem (``UnknownReference``), with the
  field named, so the caller knows which one.

Two ids need no read model: a site named in the caller's own token (identity granted
the caller a role there, so it is a site of the caller's agency) and the caller's own
staff id (identity signed it). That keeps a just-created site usable by the people who
work there before its event has arrived.
"""

from __future__ import annotations

from typing import Any, Protocol

from halcyon.shared.auth import ALL_SITES, Caller
from halcyon.shared.errors import NotFound, RuleViolation
from halcyon.shared.mongo import Document


class UnknownReference(RuleViolation):
    slug, title = "unknown-reference", "The request names something this agency does not have"


class ReadModel(Protocol):
    async def get(self, tenant_id: str, record_id: Any) -> Document | None: ...


async def resolve(
    records: ReadModel,
    caller: Caller,
    record_id: str,
    what: str,
    *,
    field: str | None = None,
) -> Document:
    """The record ``record_id`` of the caller's agency, or a problem: 422 naming ``field``
    when the id came in the body, 404 when it came in the path (``field=None``)."""
    found = await records.get(caller.tenant_id, record_id)
    if found is not None:
        return found
    if field is None:
        raise NotFound(f"no {what} {record_id} in this agency")
    raise UnknownReference(f"no {what} {record_id} in this agency", field=field)


async def resolve_site(
    sites: ReadModel, caller: Caller, site_id: str, *, field: str | None = "site_id"
) -> Document | None:
    """A site of the caller's agency: in the read model, or named in the caller's token."""
    found = await sites.get(caller.tenant_id, site_id)
    if found is not None:
        return found
    if site_id != ALL_SITES and any(grant.site_id == site_id for grant in caller.grants):
        return None
    return await resolve(sites, caller, site_id, "site", field=field)


async def resolve_staff(
    staff: ReadModel, caller: Caller, staff_id: str, *, field: str | None = "staff_id"
) -> Document | None:
    """A staff member of the caller's agency: in the read model, or the caller themself."""
    found = await staff.get(caller.tenant_id, staff_id)
    if found is not None:
        return found
    if staff_id == caller.user_id and not caller.is_service:
        return None
    return await resolve(staff, caller, staff_id, "staff member", field=field)
