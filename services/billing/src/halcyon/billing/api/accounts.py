"""The client's account: ledger, balance, payments, PDF statement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from halcyon.billing.api.common import (
    ACCOUNT_READERS,
    Clients,
    Ledger,
    Payments,
    client_or_404,
    guard,
    outbox,
    public,
)
from halcyon.billing.statements import render_statement
from halcyon.shared.contracts.billing import PaymentPosted
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

router = APIRouter(tags=["accounts"])
# A statement lists at most this many lines; older activity is in the paginated ledger.
STATEMENT_LINES = 500


async def balance_of(ledger: Any, tenant: str, client_id: str) -> int:
    entries = await ledger.find(tenant, {"client_id": client_id})
    return sum(int(e["amount_cents"]) for e in entries)


@router.get("/clients/{client_id}/ledger", summary="The client's ledger entries and balance")
async def read_ledger(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    ledger: Ledger,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> dict[str, Any]:
    client = await client_or_404(clients, caller, client_id)
    await guard(
        caller,
        ACCOUNT_READERS,
        client["home_site_id"],
        audit,
        request,
        client_id=client_id,
        resource="ledger",
    )
    found = await ledger.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    balance = await balance_of(ledger, caller.tenant_id, client_id)
    await audit.record(
        caller, action="read", resource="ledger", client_id=client_id, request=request
    )
    return {
        "client_id": client_id,
        "balance_cents": balance,
        "entries": PageOut(
            items=[public(d) for d in found.items], next_cursor=found.next_cursor
        ).model_dump(),
    }


class ClientPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_cents: int = Field(gt=0, le=10_000_000)
    method: Literal["cash", "card", "check", "other"]
    reference: str | None = Field(default=None, max_length=80)


@router.post(
    "/clients/{client_id}/payments",
    status_code=status.HTTP_201_CREATED,
    summary="Record a client payment",
)
async def client_payment(
    client_id: str,
    body: ClientPaymentIn,
    caller: CurrentCaller,
    clients: Clients,
    ledger: Ledger,
    payments: Payments,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    client = await client_or_404(clients, caller, client_id)
    await guard(
        caller,
        ACCOUNT_READERS,
        client["home_site_id"],
        audit,
        request,
        client_id=client_id,
        resource="ledger",
    )
    payment_id = f"cp:{uuid7()}"
    now = datetime.now(UTC)
    event = PaymentPosted(
        payment_id=payment_id, client_id=client_id, amount_cents=body.amount_cents, source="client"
    )
    # The ledger entry is what the balance is made of: it and the event are one write.
    await ledger.insert(
        caller.tenant_id,
        {
            "_id": f"led:{payment_id}",
            "client_id": client_id,
            "amount_cents": -body.amount_cents,
            "description": f"payment ({body.method})",
            "reference": payment_id,
            "posted_at": now,
        },
        [outbox(caller, event)],
    )
    await payments.insert(
        caller.tenant_id,
        {
            "_id": payment_id,
            "kind": "client_payment",
            "client_id": client_id,
            **body.model_dump(),
            "posted_at": now,
            "posted_by": caller.user_id,
        },
    )
    await audit.record(
        caller,
        action="create",
        resource="client_payment",
        resource_id=payment_id,
        client_id=client_id,
        request=request,
    )
    return {
        "id": payment_id,
        "balance_cents": await balance_of(ledger, caller.tenant_id, client_id),
    }


@router.get(
    "/clients/{client_id}/statement.pdf",
    summary="The client's statement as PDF",
    response_class=Response,
)
async def statement(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    ledger: Ledger,
    audit: Audit,
    request: Request,
) -> Response:
    client = await client_or_404(clients, caller, client_id)
    await guard(
        caller,
        ACCOUNT_READERS,
        client["home_site_id"],
        audit,
        request,
        client_id=client_id,
        resource="ledger",
    )
    entries = await ledger.find(
        caller.tenant_id, {"client_id": client_id}, sort=(("posted_at", 1),), limit=STATEMENT_LINES
    )
    pdf = render_statement(
        agency=caller.tenant_id,
        client_name=f"{client['given_name']} {client['family_name']}",
        client_id=client_id,
        entries=entries,
        balance_cents=await balance_of(ledger, caller.tenant_id, client_id),
        on=datetime.now(UTC).date(),
    )
    await audit.record(
        caller, action="read", resource="statement", client_id=client_id, request=request
    )
    return Response(pdf, media_type="application/pdf")
