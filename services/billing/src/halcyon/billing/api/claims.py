"""Claims: batch open charges into 837P files, follow the lifecycle, bill the secondary payer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import PlainTextResponse
from halcyon.billing.api.common import (
    BILLERS,
    Authorizations,
    Charges,
    ClaimFiles,
    Claims,
    Clients,
    Counters,
    Coverages,
    Part2Consents,
    Payers,
    Profiles,
    guard,
    public,
)
from halcyon.billing.domain.claims import check_transition
from halcyon.billing.store import StaffDirectory
from halcyon.billing.usecases.claiming import ClaimBatcher, Repos, status_event
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["claims"])
Staff = Annotated[StaffDirectory, repository(StaffDirectory)]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(min_length=1, max_length=80)
    payer: str = Field(min_length=1, max_length=80)


def _batcher(
    profiles: Profiles,
    payers: Payers,
    coverages: Coverages,
    clients: Clients,
    charges: Charges,
    claims: Claims,
    files: ClaimFiles,
    counters: Counters,
    staff: Staff,
    authorizations: Authorizations,
    part2_consents: Part2Consents,
) -> ClaimBatcher:
    return ClaimBatcher(
        Repos(
            profiles,
            payers,
            coverages,
            clients,
            charges,
            claims,
            files,
            counters,
            staff,
            authorizations,
            part2_consents,
        )
    )


Batcher = Annotated[ClaimBatcher, Depends(_batcher)]


@router.post(
    "/claims/batches",
    status_code=status.HTTP_201_CREATED,
    summary="Batch a payer's open charges at a site into an 837P file",
)
async def create_batch(
    body: BatchIn, caller: CurrentCaller, batcher: Batcher, audit: Audit, request: Request
) -> dict[str, Any]:
    caller.require(BILLERS, body.site_id)
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
    batcher: Batcher,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    primary = await _claim(claims, caller.tenant_id, claim_id)
    await guard(
        caller,
        BILLERS,
        primary["site_id"],
        audit,
        request,
        client_id=primary["client_id"],
        resource="claim",
        action="create",
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
    batcher: Batcher,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    original = await _claim(claims, caller.tenant_id, claim_id)
    await guard(
        caller,
        BILLERS,
        original["site_id"],
        audit,
        request,
        client_id=original["client_id"],
        resource="claim",
        action="create",
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


async def _claim(claims: Any, tenant: str, claim_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = await claims.get(tenant, claim_id)
    if doc is None:
        raise NotFound(f"no claim {claim_id}")
    return doc


@router.get("/claims/{claim_id}", summary="One claim with its adjudication")
async def read_claim(
    claim_id: str, caller: CurrentCaller, claims: Claims, audit: Audit, request: Request
) -> dict[str, Any]:
    doc = await _claim(claims, caller.tenant_id, claim_id)
    caller.require(BILLERS, doc["site_id"])
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
    claims: Claims,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    site_id: Annotated[str, Query(min_length=1, max_length=80)],
    claim_status: Annotated[str | None, Query(alias="status", max_length=20)] = None,
) -> PageOut[dict[str, Any]]:
    caller.require(BILLERS, site_id)
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
    files: ClaimFiles,
    claims: Claims,
    audit: Audit,
    request: Request,
) -> PlainTextResponse:
    doc = await files.get(caller.tenant_id, file_id)
    if doc is None:
        raise NotFound(f"no claim file {file_id}")
    caller.require(BILLERS, doc["site_id"])
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
    file_id: str, caller: CurrentCaller, files: ClaimFiles, claims: Claims
) -> dict[str, Any]:
    doc = await files.get(caller.tenant_id, file_id)
    if doc is None:
        raise NotFound(f"no claim file {file_id}")
    caller.require(BILLERS, doc["site_id"])
    changed = 0
    for claim_id in doc["claim_ids"]:
        claim = await claims.get(caller.tenant_id, claim_id)
        if claim is None or claim["status"] != "draft":
            continue
        done = await claims.update(
            caller.tenant_id,
            {"_id": claim_id, "status": "draft"},
            {
                "$set": {"status": "submitted"},
                "$push": {
                    "history": {
                        "status": "submitted",
                        "at": datetime.now(UTC),
                        "by": caller.user_id,
                    }
                },
            },
            [status_event(caller, claim, "submitted")],
        )
        changed += done is not None
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
    claims: Claims,
    charges: Charges,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    doc = await _claim(claims, caller.tenant_id, claim_id)
    caller.require(BILLERS, doc["site_id"])
    check_transition(doc["status"], body.status)
    updated = await claims.update(
        caller.tenant_id,
        {"_id": claim_id, "status": doc["status"]},
        {
            "$set": {"status": body.status},
            "$push": {
                "history": {
                    "status": body.status,
                    "at": datetime.now(UTC),
                    "by": caller.user_id,
                    "reason": body.reason,
                }
            },
        },
        [status_event(caller, doc, body.status)],
    )
    if updated is None:
        raise NotFound(f"claim {claim_id} changed meanwhile; read it again")
    if body.status == "rejected":
        # The clearinghouse refused the claim: its charges go back to be fixed and re-batched.
        for charge_id in doc["charge_ids"]:
            await charges.update(
                caller.tenant_id,
                {"_id": charge_id, "status": "claimed", "claim_id": claim_id},
                {"$set": {"status": "open", "claim_id": None, "rejected_claim_id": claim_id}},
            )
    await audit.record(
        caller,
        action="update",
        resource="claim",
        resource_id=claim_id,
        client_id=doc["client_id"],
        request=request,
    )
    return public(updated)
