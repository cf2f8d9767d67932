"""What every billing router shares: roles, repository dependencies, small helpers."""

from __future__ import annotations

from typing import Annotated, Any

from halcyon.billing import store
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import NotFound
from halcyon.shared.mongo import OutboxEvent
from halcyon.shared.service import repository
from starlette.requests import Request

BILLERS = {"biller", "agency_admin"}
# Who may see a client's balance and statement besides billers (front desk takes payments).
ACCOUNT_READERS = BILLERS | {"front_desk"}
SOURCE = "/halcyon/billing"

Clients = Annotated[store.ClientDirectory, repository(store.ClientDirectory)]
Payers = Annotated[store.Payers, repository(store.Payers)]
Coverages = Annotated[store.Coverages, repository(store.Coverages)]
FeeSchedules = Annotated[store.FeeSchedules, repository(store.FeeSchedules)]
Authorizations = Annotated[store.Authorizations, repository(store.Authorizations)]
Profiles = Annotated[store.BillingProfiles, repository(store.BillingProfiles)]
Charges = Annotated[store.Charges, repository(store.Charges)]
Claims = Annotated[store.Claims, repository(store.Claims)]
ClaimFiles = Annotated[store.ClaimFiles, repository(store.ClaimFiles)]
Counters = Annotated[store.Counters, repository(store.Counters)]
Remittances = Annotated[store.Remittances, repository(store.Remittances)]
Payments = Annotated[store.Payments, repository(store.Payments)]
WorkQueue = Annotated[store.WorkQueue, repository(store.WorkQueue)]
Ledger = Annotated[store.Ledger, repository(store.Ledger)]
DrugCodes = Annotated[store.DrugCodes, repository(store.DrugCodes)]
Dispenses = Annotated[store.Dispenses, repository(store.Dispenses)]
EligibilityInquiries = Annotated[store.EligibilityInquiries, repository(store.EligibilityInquiries)]
Part2Consents = Annotated[store.Part2Consents, repository(store.Part2Consents)]
Sites = Annotated[store.Sites, repository(store.Sites)]


def outbox(caller: Caller, contract: Any) -> OutboxEvent:
    envelope = EventEnvelope.wrap(contract, source=SOURCE, tenant_id=caller.tenant_id)
    return OutboxEvent(envelope, contract.topic)


async def client_or_404(
    clients: store.ClientDirectory, caller: Caller, client_id: str
) -> dict[str, Any]:
    doc = await clients.get(caller.tenant_id, client_id)
    if doc is None:
        raise NotFound(f"billing does not know client {client_id} (yet)")
    return doc


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API shows it: ``id`` instead of ``_id``, no tenant."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "tenant_id")}
    out["id"] = doc["_id"]
    return out


async def guard(
    caller: Caller,
    roles: set[str],
    site_id: str,
    audit: AuditTrail,
    request: Request,
    *,
    client_id: str | None,
    resource: str,
    action: str = "read",
) -> None:
    """Role + site check that leaves an audit record of a refused attempt on client data."""
    if not caller.has_role(roles, site_id):
        await audit.record(
            caller,
            action=action,
            resource=resource,
            client_id=client_id,
            site_id=site_id,
            outcome="denied",
            request=request,
        )
    caller.require(roles, site_id)
