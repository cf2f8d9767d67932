"""What every chart route shares: a client's chart, opened through the one access check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request
from halcyon.clinical.store import ClientRepository
from halcyon.shared.access import RecordAccess
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.mongo import Document

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


@dataclass(frozen=True)
class Chart:
    """One client's chart, opened by a caller who was allowed to open it."""

    client: Document
    access: RecordAccess

    @classmethod
    async def open(
        cls,
        access: RecordAccess,
        clients: ClientRepository,
        client_id: str,
        roles: Iterable[str],
        *,
        action: str,
        resource: str,
        resource_id: str | None = None,
    ) -> Chart:
        """The client in the caller's agency, if the caller holds a role at its home site.

        ``RecordAccess.open`` does the loading and the checking: another agency's client
        is not found (audited "failed"), a refusal is audited "denied" before it is
        raised, and break-the-glass opens a chart for reading. ``resource_id`` names the
        record the chart is opened for in those audit entries.
        """
        doc = await access.open_client(
            clients,
            client_id,
            roles,
            action=action,
            resource=resource,
            resource_id=resource_id,
            # A break-the-glass grant opens a chart for reading (ADR 0102).
            emergency_read=True,
        )
        return cls(client=doc, access=access)

    @property
    def caller(self) -> Caller:
        return self.access.caller

    @property
    def audit(self) -> AuditTrail:
        return self.access.audit

    @property
    def request(self) -> Request | None:
        return self.access.request

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


@dataclass(frozen=True)
class Charts:
    """The door to every chart for one request: who asks, and where clients are kept."""

    access: RecordAccess
    clients: ClientRepository

    @property
    def caller(self) -> Caller:
        return self.access.caller

    async def open(
        self,
        client_id: str,
        roles: Iterable[str],
        *,
        action: str,
        resource: str,
        resource_id: str | None = None,
    ) -> Chart:
        return await Chart.open(
            self.access,
            self.clients,
            client_id,
            roles,
            action=action,
            resource=resource,
            resource_id=resource_id,
        )
