"""Discrepancies and the regulatory deadlines they start."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from halcyon.inventory.api.common import AUDITORS, MANAGERS, READERS, Record, RefusalsAudited, out
from halcyon.inventory.api.deps import DeadlineRepo, DiscrepancyRepo, Page, Runtime
from halcyon.inventory.domain.models import CloseDiscrepancyIn, DeadlineDoneIn, TheftLossIn
from halcyon.inventory.store import SiteDirectory
from halcyon.inventory.usecases.follow_ups import start_theft_loss_deadlines
from halcyon.inventory.usecases.stock import site_today
from halcyon.shared.access import Access
from halcyon.shared.errors import Conflict
from halcyon.shared.http.pagination import PageOut

router = APIRouter(tags=["compliance"], route_class=RefusalsAudited)


@router.get("/discrepancies", response_model=PageOut[Record], summary="Discrepancies")
async def list_discrepancies(
    access: Access,
    discrepancies: DiscrepancyRepo,
    page: Page,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
) -> PageOut[Record]:
    await access.require(READERS, None, action="read", resource="inventory/discrepancies")
    query: dict[str, Any] = {"status": status} if status else {}
    sites = access.caller.sites()
    if "*" not in sites:
        query["site_id"] = {"$in": sorted(sites)}
    result = await discrepancies.page(access.tenant_id, query, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


@router.get("/discrepancies/{discrepancy_id}", response_model=Record, summary="One discrepancy")
async def read_discrepancy(
    discrepancy_id: str, access: Access, discrepancies: DiscrepancyRepo
) -> Record:
    doc = await access.open(
        discrepancies, discrepancy_id, READERS, action="read",
        resource="inventory/discrepancies/{discrepancy_id}", what="discrepancy",
    )  # fmt: skip
    return out(doc)


@router.post(
    "/discrepancies/{discrepancy_id}/theft-or-loss",
    response_model=list[Record],
    summary="Record that a discrepancy is a suspected theft or loss: starts the DEA deadlines",
)
async def suspect_theft_or_loss(
    discrepancy_id: str,
    body: TheftLossIn,
    access: Access,
    discrepancies: DiscrepancyRepo,
    deadlines: DeadlineRepo,
    runtime: Runtime,
) -> list[Record]:
    doc = await access.open(
        discrepancies, discrepancy_id, AUDITORS | {"nurse", "prescriber"}, action="create",
        resource="inventory/discrepancies/{discrepancy_id}/theft-or-loss", what="discrepancy",
    )  # fmt: skip
    if doc["status"] != "open":
        raise Conflict("the discrepancy is closed")
    await discrepancies.update(
        access.tenant_id,
        {"_id": discrepancy_id},
        {"$set": {"suspected_theft_or_loss": True, "theft_loss_note": body.note}},
    )
    sites = runtime.repo(SiteDirectory)
    discovered_on = body.discovered_on or await site_today(sites, access.tenant_id, doc["site_id"])
    started = await start_theft_loss_deadlines(
        deadlines, runtime.event, access.tenant_id, doc, discovered_on
    )
    return [out(d) for d in started]


@router.post(
    "/discrepancies/{discrepancy_id}/close",
    response_model=Record,
    summary="Close a resolved discrepancy (refused while its DEA deadlines are open)",
)
async def close_discrepancy(
    discrepancy_id: str,
    body: CloseDiscrepancyIn,
    access: Access,
    discrepancies: DiscrepancyRepo,
    deadlines: DeadlineRepo,
) -> Record:
    await access.open(
        discrepancies, discrepancy_id, MANAGERS, action="create",
        resource="inventory/discrepancies/{discrepancy_id}/close", what="discrepancy",
    )  # fmt: skip
    still_open = await deadlines.count(
        access.tenant_id, {"discrepancy_id": discrepancy_id, "status": "open"}
    )
    if still_open:
        raise Conflict(
            f"{still_open} DEA deadline(s) of this discrepancy are still open",
            rule="21 CFR 1301.76(b)",
        )
    closed = await discrepancies.update(
        access.tenant_id,
        {"_id": discrepancy_id, "status": "open"},
        {
            "$set": {
                "status": "closed",
                "resolution": body.resolution,
                "closed_at": datetime.now(UTC),
                "closed_by": access.caller.user_id,
            }
        },
    )
    if closed is None:
        raise Conflict("the discrepancy is already closed")
    return out(closed)


@router.get("/deadlines", response_model=PageOut[Record], summary="Compliance deadlines")
async def list_deadlines(
    access: Access,
    deadlines: DeadlineRepo,
    page: Page,
    status: Annotated[str | None, Query(pattern="^(open|done)$")] = None,
    discrepancy_id: str | None = None,
) -> PageOut[Record]:
    await access.require(READERS, None, action="read", resource="inventory/deadlines")
    query: dict[str, Any] = {}
    if status:
        query["status"] = status
    if discrepancy_id:
        query["discrepancy_id"] = discrepancy_id
    sites = access.caller.sites()
    if "*" not in sites:
        query["site_id"] = {"$in": sorted(sites)}
    result = await deadlines.page(access.tenant_id, query, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/deadlines/{deadline_id}/done",
    response_model=Record,
    summary="Record that a deadline was met (e.g. the Form 106 was filed)",
)
async def complete_deadline(
    deadline_id: str, body: DeadlineDoneIn, access: Access, deadlines: DeadlineRepo
) -> Record:
    await access.open(
        deadlines, deadline_id, MANAGERS, action="create",
        resource="inventory/deadlines/{deadline_id}/done", what="deadline",
    )  # fmt: skip
    done = await deadlines.update(
        access.tenant_id,
        {"_id": deadline_id, "status": "open"},
        {
            "$set": {
                "status": "done",
                "reference": body.reference,
                "done_at": datetime.now(UTC),
                "done_by": access.caller.user_id,
            }
        },
    )
    if done is None:
        raise Conflict("the deadline is already done")
    return out(done)
