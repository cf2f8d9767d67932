"""The one access check every service runs before it touches a record (issue 16).

``Access`` is a FastAPI dependency: the caller, the audit trail and the request in one
parameter. A route asks it either to

* ``open(repository, record_id, roles, ...)``: load the record within the caller's
  agency (another agency's record is simply not found: 404, audited as ``failed``),
  then check the role at the record's site (403, audited as ``denied``); or
* ``require(roles, site_id, ...)``: check the role at a site the route already knows
  (a record about to be created, a site-wide list); refusals are audited.

Break-the-glass (a time-limited grant for one client, carried by the token) opens a
client's chart for *reading* to a caller who holds one of the roles at some site, where
the caller asks for it (``emergency_read=True``: clinical's chart, ADR 0102); the audit
event is flagged by ``AuditTrail`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.errors import DomainError, NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.mongo import Document, TenantRepository


def site_of_record(doc: Document) -> str | None:
    site = doc.get("site_id")
    return str(site) if site is not None else None


def home_site(client: Document) -> str | None:
    """A client's records belong to the client's home site."""
    site = client.get("home_site_id")
    return str(site) if site is not None else None


@dataclass(frozen=True)
class RecordAccess:
    """Who is asking, where their refusals are audited, and the request they came with."""

    caller: Caller
    audit: AuditTrail
    request: Request | None = None

    @property
    def tenant_id(self) -> str:
        return self.caller.tenant_id

    def may_read_in_emergency(self, roles: Iterable[str], client_id: str | None) -> bool:
        return (
            client_id is not None
            and client_id in self.caller.emergency_clients
            and self.caller.has_role(roles)
        )

    async def require(
        self,
        roles: Iterable[str],
        site_id: str | None,
        *,
        action: str,
        resource: str,
        resource_id: str | None = None,
        client_id: str | None = None,
        emergency_read: bool = False,
    ) -> None:
        """Check a role at ``site_id``; a refusal is audited before the 403 is raised.

        ``emergency_read``: a break-the-glass grant for ``client_id`` opens this read
        (ADR 0102: the clinical chart only; a grant never opens billing or a write).
        """
        wanted = frozenset(roles)
        if emergency_read and action == "read" and self.may_read_in_emergency(wanted, client_id):
            return
        try:
            self.caller.require(wanted, site_id)
        except DomainError as exc:
            await self.audit.record(
                self.caller,
                action=action,
                resource=resource,
                resource_id=resource_id,
                client_id=client_id,
                site_id=site_id,
                outcome="denied",
                reason=exc.detail,
                request=self.request,
            )
            exc.audited = True
            raise

    async def missing(
        self,
        what: str,
        record_id: Any,
        *,
        action: str,
        resource: str,
        resource_id: str | None = None,
        client_id: str | None = None,
    ) -> NotFound:
        """The 404 for a record not in the caller's agency, audited as ``failed`` (an
        attempt on another agency's id is an access attempt too). Raise what it returns."""
        await self.audit.record(
            self.caller,
            action=action,
            resource=resource,
            resource_id=resource_id,
            client_id=client_id,
            outcome="failed",
            reason=f"no such {what} in the caller's agency",
            request=self.request,
        )
        refusal = NotFound(f"no {what} {record_id} in your agency")
        refusal.audited = True
        return refusal

    async def open(
        self,
        repository: TenantRepository,
        record_id: Any,
        roles: Iterable[str],
        *,
        action: str,
        resource: str,
        what: str = "record",
        record_is_client: bool = False,
        resource_id: str | None = None,
        client_of: Callable[[Document], str | None] | None = None,
        site_of: Callable[[Document], str | None] = site_of_record,
        emergency_read: bool = False,
    ) -> Document:
        """The record with ``record_id`` in the caller's agency, if the caller may act on it.

        ``client_of`` names the client the record is about (so the audit event and
        break-the-glass see it); by default a record's ``client_id`` field, or its id
        when ``record_is_client``. ``resource_id`` names, in the audit entries, the record
        the caller came for when it is not the one loaded (a note in a client's chart).
        """
        audited_id = resource_id or (None if record_is_client else str(record_id))
        doc = await repository.get(self.caller.tenant_id, record_id)
        if doc is None:
            raise await self.missing(
                what,
                record_id,
                action=action,
                resource=resource,
                resource_id=audited_id,
                client_id=str(record_id) if record_is_client else None,
            )
        if client_of is not None:
            client_id = client_of(doc)
        else:
            client_id = str(record_id) if record_is_client else doc.get("client_id")
        await self.require(
            roles,
            site_of(doc),
            action=action,
            resource=resource,
            resource_id=audited_id,
            client_id=client_id,
            emergency_read=emergency_read,
        )
        return doc

    async def open_client(
        self,
        clients: TenantRepository,
        client_id: str,
        roles: Iterable[str],
        *,
        action: str,
        resource: str,
        resource_id: str | None = None,
        emergency_read: bool = False,
    ) -> Document:
        """A client (any service's directory of clients, keyed by client id with a
        ``home_site_id``), checked at the client's home site."""
        return await self.open(
            clients,
            client_id,
            roles,
            action=action,
            resource=resource,
            what="client",
            record_is_client=True,
            resource_id=resource_id,
            site_of=home_site,
            emergency_read=emergency_read,
        )


async def record_access(request: Request, caller: CurrentCaller) -> RecordAccess:
    # async: FastAPI would run a plain ``def`` dependency in a worker thread.
    return RecordAccess(caller=caller, audit=request.app.state.runtime.audit, request=request)


Access = Annotated[RecordAccess, Depends(record_access)]
