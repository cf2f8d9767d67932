"""835 remittance ingest and the biller's work queue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from halcyon.billing.api.common import BILLERS, public
from halcyon.billing.api.deps import Payments, Poster, Remittances, WorkQueue
from halcyon.billing.domain.work_queue import open_items_query
from halcyon.billing.domain.x12 import X12Error
from halcyon.billing.usecases.holds import resolve_by_biller
from halcyon.shared.access import Access
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.http.uploads import read_upload
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["remittance"])
MAX_835_BYTES = 10 * 1024 * 1024


class X12Refused(RuleViolation):
    slug, title = "x12-not-understood", "The X12 file cannot be understood"


@router.post(
    "/remittances",
    status_code=status.HTTP_201_CREATED,
    summary="Ingest an X12 835 (raw body): posted whole and once, or refused (422) naming the "
    "segment",
)
async def ingest_835(
    request: Request,
    caller: CurrentCaller,
    access: Access,
    poster: Poster,
    audit: Audit,
    filename: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    await access.require(BILLERS, None, action="create", resource="remittance")
    raw = await read_upload(request, MAX_835_BYTES)
    if not raw.strip():
        raise RuleViolation("the body is empty: send the 835 file as the request body")
    try:
        result = await poster.ingest(caller, raw, filename)
    except X12Error as exc:
        raise X12Refused(str(exc), segment=exc.segment, position=exc.position) from None
    await audit.record(
        caller, action="create", resource="remittance", resource_id=result["id"], request=request
    )
    return result


@router.get("/remittances/{remittance_id}", summary="What an ingested 835 posted")
async def read_remittance(
    remittance_id: str,
    caller: CurrentCaller,
    access: Access,
    remittances: Remittances,
    payments: Payments,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    await access.require(BILLERS, None, action="read", resource="remittance")
    doc = await remittances.get(caller.tenant_id, remittance_id)
    if doc is None:
        raise await access.missing(
            "remittance", remittance_id, action="read", resource="remittance",
            resource_id=remittance_id,
        )  # fmt: skip
    # What the file posted names the clients it paid for: a read of each one's account.
    paid_for = await payments.distinct(
        caller.tenant_id, "client_id", {"remittance_id": remittance_id}
    )
    await audit.record_reads(
        caller, resource="remittance", resource_id=remittance_id, client_ids=paid_for,
        request=request,
    )  # fmt: skip
    return public(doc)


@router.get(
    "/payments",
    response_model=PageOut[dict[str, Any]],
    summary="Posted payments and provider adjustments",
)
async def list_payments(
    caller: CurrentCaller,
    access: Access,
    audit: Audit,
    request: Request,
    payments: Payments,
    page: Annotated[PageParams, Depends(page_params)],
    remittance_id: Annotated[str | None, Query(max_length=100)] = None,
) -> PageOut[dict[str, Any]]:
    await access.require(BILLERS, None, action="read", resource="payment")
    query = {"remittance_id": remittance_id} if remittance_id else {}
    found = await payments.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await audit.record_reads(
        caller, resource="payment", client_ids=(d.get("client_id") for d in found.items),
        request=request,
    )  # fmt: skip
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)


@router.get(
    "/work-queue",
    response_model=PageOut[dict[str, Any]],
    summary="Denials and unmatched payments to work, filtered by CARC, group code or RARC",
)
async def list_work(
    caller: CurrentCaller,
    access: Access,
    audit: Audit,
    request: Request,
    work: WorkQueue,
    page: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[str | None, Query(max_length=20)] = None,
    carc: Annotated[str | None, Query(max_length=5, description="a CARC, e.g. 27")] = None,
    group: Annotated[
        str | None, Query(pattern="^(CO|PR|OA|PI|CR)$", description="CAS group code")
    ] = None,
    rarc: Annotated[str | None, Query(max_length=8, description="a RARC, e.g. N14")] = None,
) -> PageOut[dict[str, Any]]:
    await access.require(BILLERS, None, action="read", resource="work_queue")
    query = open_items_query(kind, carc, group, rarc)
    found = await work.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await audit.record_reads(
        caller, resource="work_queue", client_ids=(d.get("client_id") for d in found.items),
        request=request,
    )  # fmt: skip
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(min_length=1, max_length=1000)


@router.post("/work-queue/{item_id}/resolve", summary="Close a work item with what was done")
async def resolve_work(
    item_id: str,
    body: ResolveIn,
    caller: CurrentCaller,
    access: Access,
    work: WorkQueue,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    await access.require(BILLERS, None, action="update", resource="work_queue")
    done = await resolve_by_biller(work, access, item_id, body.resolution)
    await audit.record(
        caller,
        action="update",
        resource="work_queue",
        resource_id=item_id,
        client_id=done.get("client_id"),
        request=request,
    )
    return public(done)
