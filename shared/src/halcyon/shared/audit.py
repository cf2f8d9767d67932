"""Access audit: every read or write of health information becomes an ``AccessAudited`` event.

The event is written to the service's own ``outbox`` collection (one insert), so it
is never lost; the outbox relay publishes it to ``audit.access.v1`` where identity
stores it append-only. HIPAA (45 CFR 164.312(b)) asks for exactly this trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from halcyon.shared.auth import Caller
from halcyon.shared.contracts.identity import AccessAudited
from halcyon.shared.events import ServiceEvents
from halcyon.shared.mongo import TenantRepository
from starlette.requests import Request
from uuid6 import uuid7


class OutboxRecords(TenantRepository):
    """Events not tied to an aggregate write (e.g. audits of reads) wait here."""

    collection_name = "outbox"


class AuditTrail:
    def __init__(self, records: OutboxRecords, service: str) -> None:
        self._records = records
        self._service = service

    async def record(
        self,
        caller: Caller,
        *,
        action: str,
        resource: str,
        resource_id: str | None = None,
        client_id: str | None = None,
        site_id: str | None = None,
        outcome: str = "success",
        reason: str | None = None,
        request: Request | None = None,
    ) -> AccessAudited:
        emergency = client_id is not None and client_id in caller.emergency_clients
        event = AccessAudited(
            audit_id=str(uuid7()),
            at=datetime.now(UTC),
            service=self._service,
            user_id=caller.user_id,
            roles=sorted({g.role for g in caller.grants}),
            site_id=site_id,
            client_id=client_id,
            action=action,
            resource=resource,
            resource_id=resource_id,
            outcome=outcome,
            reason=reason or (caller.extra.get("btg_reason") if emergency else None),
            break_the_glass=emergency,
            request_id=getattr(request.state, "request_id", None) if request else None,
            source_address=_source_address(request),
        )
        await self._records.insert(
            caller.tenant_id,
            {"_id": event.audit_id, "kind": "audit", "created_at": event.at},
            [ServiceEvents(self._service).event(event, tenant_id=caller.tenant_id)],
        )
        return event

    async def record_reads(
        self,
        caller: Caller,
        *,
        resource: str,
        client_ids: Iterable[str | None],
        resource_id: str | None = None,
        site_id: str | None = None,
        action: str = "read",
        request: Request | None = None,
    ) -> None:
        """One entry per client whose data the response shows, so identity's log answers
        "who saw this client's records" for lists and files too; one entry without a
        client when the response shows none (the read itself is still on record)."""
        named: list[str | None] = [*sorted({c for c in client_ids if c})]
        for client_id in named or [None]:
            await self.record(
                caller,
                action=action,
                resource=resource,
                resource_id=resource_id,
                client_id=client_id,
                site_id=site_id,
                request=request,
            )


def _source_address(request: Request | None) -> str | None:
    if request is None:
        return None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None
