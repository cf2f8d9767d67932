"""Charges captured from signed encounters (read-only: capture is event-driven)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from halcyon.billing.api.common import BILLERS, open_client, public
from halcyon.billing.api.deps import Capture, Charges, Clients, Sites
from halcyon.shared.access import Access
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.references import resolve_site
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["charges"])


@router.get(
    "/clients/{client_id}/charges",
    response_model=PageOut[dict[str, Any]],
    summary="A client's charges and corrections",
)
async def list_charges(
    client_id: str,
    caller: CurrentCaller,
    access: Access,
    charges: Charges,
    clients: Clients,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    encounter_id: Annotated[str | None, Query(max_length=200)] = None,
) -> PageOut[dict[str, Any]]:
    client = await open_client(
        access, clients, client_id, BILLERS, action="read", resource="charges"
    )
    query: dict[str, Any] = {"client_id": client_id}
    if encounter_id:
        query["encounter_id"] = encounter_id
    found = await charges.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await audit.record(
        caller,
        action="read",
        resource="charges",
        client_id=client_id,
        site_id=client["home_site_id"],
        request=request,
    )
    return PageOut(items=[_charge(d) for d in found.items], next_cursor=found.next_cursor)


def _charge(doc: dict[str, Any]) -> dict[str, Any]:
    out = public(doc)
    out.pop("facts", None)
    return out


class RepriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(min_length=1, max_length=80)


@router.post(
    "/charges/reprice", summary="Price held charges of a site with the fee schedule as it is now"
)
async def reprice(
    body: RepriceIn, caller: CurrentCaller, access: Access, sites: Sites, capture: Capture
) -> dict[str, int]:
    await access.require(BILLERS, body.site_id, action="update", resource="charges")
    await resolve_site(sites, caller, body.site_id)
    return await capture.reprice(caller.tenant_id, body.site_id)
