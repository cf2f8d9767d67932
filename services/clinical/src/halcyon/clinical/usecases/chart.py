"""What every chart route shares: open a client's chart with the caller's rights, audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Request
from halcyon.clinical.store import ClientRepository
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.contracts import EventContract
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import DomainError, NotFound
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.service import repository

Clients = Annotated[ClientRepository, repository(ClientRepository)]

SOURCE = "/halcyon/clinical"

# Who may do what with a chart. Billers see claims, not notes; front desk registers.
FRONT_DESK = frozenset({"front_desk", "agency_admin"})
CLINICIANS = frozenset({"therapist", "prescriber", "nurse", "psychologist", "counselor"})
CHART_READERS = CLINICIANS | {"compliance_officer", "agency_admin"}
CHART_WRITERS = CLINICIANS
PRESCRIBERS = frozenset({"prescriber"})
CONSENT_TAKERS = CLINICIANS | FRONT_DESK
DISCLOSERS = frozenset({"compliance_officer", "agency_admin", "therapist", "prescriber"})
REGISTRARS = FRONT_DESK | CLINICIANS
DEMOGRAPHIC_READERS = CHART_READERS | {"front_desk", "biller"}


def event(contract: EventContract, tenant_id: str) -> OutboxEvent:
    envelope = EventEnvelope.wrap(contract, source=SOURCE, tenant_id=tenant_id)
    return OutboxEvent(envelope, contract.topic)


@dataclass
class Chart:
    """One client's chart, opened by a caller who was allowed to open it."""

    client: Document
    caller: Caller
    audit: AuditTrail
    request: Request

    @property
    def client_id(self) -> str:
        return str(self.client["_id"])

    @property
    def site_id(self) -> str:
        return str(self.client["home_site_id"])

    @property
    def tenant_id(self) -> str:
        return self.caller.tenant_id

    async def record(
        self,
        action: str,
        resource: str,
        resource_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        await self.audit.record(
            self.caller,
            action=action,
            resource=resource,
            resource_id=resource_id,
            client_id=self.client_id,
            site_id=self.site_id,
            reason=reason,
            request=self.request,
        )

    async def denied(
        self, action: str, resource: str, resource_id: str | None, reason: str
    ) -> None:
        await self.audit.record(
            self.caller,
            action=action,
            resource=resource,
            resource_id=resource_id,
            client_id=self.client_id,
            site_id=self.site_id,
            outcome="denied",
            reason=reason,
            request=self.request,
        )


async def open_chart(
    clients: ClientRepository,
    caller: Caller,
    audit: AuditTrail,
    request: Request,
    client_id: str,
    roles: frozenset[str],
    *,
    action: str,
    resource: str,
    resource_id: str | None = None,
) -> Chart:
    """Load the client in the caller's agency and check the role at the client's home site.

    Another agency's client is simply not found (no hint it exists). A refusal is
    audited before it is raised, as HIPAA's access-audit trail requires.
    """
    doc = await clients.get(caller.tenant_id, client_id)
    if doc is None:
        await audit.record(
            caller,
            action=action,
            resource=resource,
            resource_id=resource_id,
            client_id=client_id,
            outcome="failed",
            reason="no such client in the caller's agency",
            request=request,
        )
        raise NotFound(f"no client {client_id} in your agency")
    chart = Chart(client=doc, caller=caller, audit=audit, request=request)
    # Break-the-glass (a time-limited grant in the token) opens a chart for reading to a
    # clinician from another site; the audit event is flagged and carries the reason.
    emergency = (
        action == "read" and client_id in caller.emergency_clients and caller.has_role(roles)
    )
    try:
        if not emergency:
            caller.require(roles, chart.site_id)
    except DomainError as exc:
        await chart.denied(action, resource, resource_id, exc.detail)
        raise
    return chart
