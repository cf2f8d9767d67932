"""Prior authorizations: recorded against one of the client's coverages, with the
``AuthorizationChanged`` event in the same write (charge capture counts units later)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from halcyon.billing.runtime import BillingRuntime, Events
from halcyon.billing.store import Authorizations, Coverages
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.billing import AuthorizationChanged
from halcyon.shared.errors import RuleViolation
from uuid6 import uuid7


@dataclass(frozen=True)
class AuthorizationTerms:
    coverage_id: str
    cpt: str
    units_authorized: int
    starts_on: date
    ends_on: date
    reference: str | None = None  # the payer's authorization number (REF*G1)


class PriorAuthorizations:
    def __init__(
        self, coverages: Coverages, authorizations: Authorizations, events: Events
    ) -> None:
        self.coverages = coverages
        self.authorizations = authorizations
        self.events = events

    @classmethod
    def of(cls, runtime: BillingRuntime) -> PriorAuthorizations:
        return cls(runtime.repo(Coverages), runtime.repo(Authorizations), runtime)

    async def record(
        self, caller: Caller, client_id: str, terms: AuthorizationTerms
    ) -> dict[str, Any]:
        tenant = caller.tenant_id
        coverage = await self.coverages.get(tenant, terms.coverage_id)
        if coverage is None or coverage["client_id"] != client_id:
            raise RuleViolation(f"coverage {terms.coverage_id} is not this client's")
        auth_id = str(uuid7())
        doc = {
            "_id": auth_id,
            "client_id": client_id,
            "starts_on": terms.starts_on.isoformat(),
            "ends_on": terms.ends_on.isoformat(),
            "coverage_id": terms.coverage_id,
            "cpt": terms.cpt,
            "units_authorized": terms.units_authorized,
            "reference": terms.reference,
            "units_used": 0,
            "applied_charges": [],
            "created_at": datetime.now(UTC),
        }
        event = AuthorizationChanged(
            authorization_id=auth_id,
            client_id=client_id,
            cpt=terms.cpt,
            units_authorized=terms.units_authorized,
            units_used=0,
            starts_on=terms.starts_on,
            ends_on=terms.ends_on,
        )
        return await self.authorizations.insert(
            tenant, doc, [self.events.event(event, tenant_id=tenant)]
        )
