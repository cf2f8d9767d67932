"""The client's account: ledger, balance, payments, PDF statement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from halcyon.billing.api.common import ACCOUNT_READERS, open_client, public
from halcyon.billing.api.deps import Accounts, Clients, Ledger
from halcyon.billing.usecases.accounts import ClientPayment
from halcyon.shared.access import Access
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["accounts"])


@router.get("/clients/{client_id}/ledger", summary="The client's ledger entries and balance")
async def read_ledger(
    client_id: str,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    ledger: Ledger,
    accounts: Accounts,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> dict[str, Any]:
    await open_client(access, clients, client_id, ACCOUNT_READERS, action="read", resource="ledger")
    found = await ledger.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    balance = await accounts.balance(caller.tenant_id, client_id)
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
    access: Access,
    clients: Clients,
    accounts: Accounts,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    await open_client(
        access, clients, client_id, ACCOUNT_READERS, action="create", resource="client_payment"
    )
    paid = await accounts.take_payment(caller, client_id, ClientPayment(**body.model_dump()))
    await audit.record(
        caller,
        action="create",
        resource="client_payment",
        resource_id=paid["id"],
        client_id=client_id,
        request=request,
    )
    return paid


@router.get(
    "/clients/{client_id}/statement.pdf",
    summary="The client's statement as PDF",
    response_class=Response,
)
async def statement(
    client_id: str,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    accounts: Accounts,
    audit: Audit,
    request: Request,
) -> Response:
    client = await open_client(
        access, clients, client_id, ACCOUNT_READERS, action="read", resource="ledger"
    )
    pdf = await accounts.statement(caller.tenant_id, client, datetime.now(UTC).date())
    await audit.record(
        caller, action="read", resource="statement", client_id=client_id, request=request
    )
    return Response(pdf, media_type="application/pdf")
