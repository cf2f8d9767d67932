"""Claims: batch open charges into 837P files, follow the lifecycle, bill the secondary payer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import PlainTextResponse
from halcyon.billing.api.common import BILLERS, public
from halcyon.billing.api.deps import Batcher, ClaimFiles, Claims, Lifecycle
from halcyon.shared.access import Access
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["claims"])


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(min_length=1, max_length=80)
    payer: str = Field(min_length=1, max_length=80)


@router.post(
    "/claims/batches",
    status_code=status.HTTP_201_CREATED,
    summary="Batch a payer's open charges at a site into an 837P file",
)
async def create_batch(
    body: BatchIn,
    caller: CurrentCaller,
    access: Access,
    batcher: Batcher,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    await access.require(BILLERS, body.site_id, action="create", resource="claim")
    result = await batcher.batch(caller, body.site_id, body.payer)
    for claim in result["claims"]:
        await audit.record(
            caller,
            action="create",
            resource="claim",
            resource_id=claim["id"],
            site_id=body.site_id,
            request=request,
        )
    return result


@router.post(
    "/claims/{claim_id}/secondary",
    status_code=status.HTTP_201_CREATED,
    summary="Bill the secondary payer with the primary's adjudication",
)
async def create_secondary(
    claim_id: str,
    caller: CurrentCaller,
    access: Access,
    batcher: Batcher,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    primary = await access.open(
        claims, claim_id, BILLERS, action="create", resource="claim", what="claim"
    )
    result = await batcher.secondary(caller, claim_id)
    await audit.record(
        caller,
        action="create",
        resource="claim",
        resource_id=result["claims"][0]["id"],
        client_id=primary["client_id"],
        request=request,
    )
    return result


@router.post(
    "/claims/{claim_id}/replacement",
    status_code=status.HTTP_201_CREATED,
    summary="A corrected claim (frequency 7) after an addendum changed what was billed",
)
async def create_replacement(
    claim_id: str,
    caller: CurrentCaller,
    access: Access,
    batcher: Batcher,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    original = await access.open(
        claims, claim_id, BILLERS, action="create", resource="claim", what="claim"
    )
    result = await batcher.replacement(caller, claim_id)
    await audit.record(
        caller,
        action="create",
        resource="claim",
        resource_id=result["claims"][0]["id"],
        client_id=original["client_id"],
        request=request,
    )
    return result


@router.get("/claims/{claim_id}", summary="One claim with its adjudication")
async def read_claim(
    claim_id: str,
    caller: CurrentCaller,
    access: Access,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    doc = await access.open(
        claims, claim_id, BILLERS, action="read", resource="claim", what="claim"
    )
    await audit.record(
        caller,
        action="read",
        resource="claim",
        resource_id=claim_id,
        client_id=doc["client_id"],
        request=request,
    )
    return public(doc)


@router.get(
    "/claims",
    response_model=PageOut[dict[str, Any]],
    summary="Claims at a site, optionally by status",
)
async def list_claims(
    caller: CurrentCaller,
    access: Access,
    claims: Claims,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    site_id: Annotated[str, Query(min_length=1, max_length=80)],
    claim_status: Annotated[str | None, Query(alias="status", max_length=20)] = None,
) -> PageOut[dict[str, Any]]:
    await access.require(BILLERS, site_id, action="read", resource="claim")
    query: dict[str, Any] = {"site_id": site_id}
    if claim_status:
        query["status"] = claim_status
    found = await claims.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    # A claim carries the client's diagnoses: listing it is a read of that client's data.
    for doc in found.items:
        await audit.record(
            caller,
            action="read",
            resource="claim",
            resource_id=doc["_id"],
            client_id=doc["client_id"],
            site_id=site_id,
            request=request,
        )
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)


@router.get(
    "/claim-files/{file_id}", response_class=PlainTextResponse, summary="The 837P file as sent"
)
async def read_file(
    file_id: str,
    caller: CurrentCaller,
    access: Access,
    files: ClaimFiles,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> PlainTextResponse:
    doc = await access.open(
        files, file_id, BILLERS, action="read", resource="claim_file", what="claim file"
    )
    # The 837P holds each claim's patient, diagnoses and services: a read of each client.
    patients = await claims.distinct(
        caller.tenant_id, "client_id", {"_id": {"$in": list(doc.get("claim_ids", []))}}
    )
    await audit.record_reads(
        caller, resource="claim_file", resource_id=file_id, client_ids=patients,
        site_id=doc["site_id"], request=request,
    )  # fmt: skip
    return PlainTextResponse(doc["content"], media_type="application/edi-x12")


@router.post(
    "/claim-files/{file_id}/submitted", summary="Record that the file went to the clearinghouse"
)
async def file_submitted(
    file_id: str, access: Access, files: ClaimFiles, lifecycle: Lifecycle
) -> dict[str, Any]:
    doc = await access.open(
        files, file_id, BILLERS, action="update", resource="claim_file", what="claim file"
    )
    changed = await lifecycle.mark_submitted(access.caller, doc)
    return {"id": file_id, "submitted": changed}


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["accepted", "rejected", "appealed"]
    reason: str | None = Field(default=None, max_length=500)


@router.post(
    "/claims/{claim_id}/status",
    summary="Clearinghouse acceptance/rejection, or an appeal of a denial",
)
async def change_status(
    claim_id: str,
    body: StatusIn,
    caller: CurrentCaller,
    access: Access,
    claims: Claims,
    lifecycle: Lifecycle,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    doc = await access.open(
        claims, claim_id, BILLERS, action="update", resource="claim", what="claim"
    )
    updated = await lifecycle.change_status(caller, doc, body.status, body.reason)
    await audit.record(
        caller,
        action="update",
        resource="claim",
        resource_id=claim_id,
        client_id=doc["client_id"],
        request=request,
    )
    return public(updated)
