"""Medication, allergy and problem lists: the same four routes for each list.

No ``from __future__ import annotations`` here: the routes are built in a function per
list, and FastAPI must see the real body classes, not strings it cannot resolve.
"""

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.chart_lists import LIST_KINDS, SPECS, ListSpec, StopRequest
from halcyon.clinical.store import CHART_LIST_REPOSITORIES, SiteDirectory
from halcyon.clinical.usecases import chart_lists
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, TenantRepository
from halcyon.shared.service import repository
from pydantic import BaseModel, ConfigDict

router = APIRouter(tags=["medications, allergies, problems"])
Sites = Annotated[SiteDirectory, repository(SiteDirectory)]


class ListEntryOut(BaseModel):
    """One entry; the list's own fields (name, substance, code…) come along as they are."""

    model_config = ConfigDict(extra="allow")

    id: str
    client_id: str
    started_on: date | None = None
    stopped_on: date | None = None
    source: str
    verification_status: str
    recorded_by: str
    recorded_at: datetime
    updated_by: str | None = None
    updated_at: datetime | None = None


def _out(doc: Document) -> ListEntryOut:
    fields = {k: v for k, v in doc.items() if k not in {"_id", "tenant_id"}}
    return ListEntryOut(id=doc["_id"], **fields)


def _entries(runtime: Runtime, spec: ListSpec) -> TenantRepository:
    return runtime.repo(CHART_LIST_REPOSITORIES[spec.kind])


def _add_routes(spec: ListSpec) -> None:
    entry_model: Any = spec.entry
    change_model: Any = spec.change
    resource = f"clinical/{spec.singular}"

    async def add(
        client_id: str,
        body: entry_model,
        charts: ChartDoor,
        sites: Sites,
        runtime: Runtime,
    ) -> ListEntryOut:
        chart = await charts.open(client_id, CHART_WRITERS, action="create", resource=resource)
        saved = await chart_lists.add(chart, _entries(runtime, spec), sites, spec, body)
        return _out(saved)

    async def list_(
        client_id: str,
        charts: ChartDoor,
        runtime: Runtime,
        page: Annotated[PageParams, Depends(page_params)],
        current: Annotated[bool, Query(description="only entries not stopped or refuted")] = False,
    ) -> PageOut[ListEntryOut]:
        chart = await charts.open(client_id, CHART_READERS, action="read", resource=resource)
        found = await chart_lists.list_entries(
            chart, _entries(runtime, spec), spec,
            current_only=current, limit=page.limit, cursor=page.cursor,
        )  # fmt: skip
        return PageOut(items=[_out(d) for d in found.items], next_cursor=found.next_cursor)

    async def change(
        entry_id: str,
        body: change_model,
        caller: CurrentCaller,
        charts: ChartDoor,
        sites: Sites,
        runtime: Runtime,
    ) -> ListEntryOut:
        entries = _entries(runtime, spec)
        current = await chart_lists.load(entries, caller.tenant_id, spec, entry_id)
        chart = await charts.open(
            current["client_id"],
            CHART_WRITERS,
            action="update",
            resource=resource,
            resource_id=entry_id,
        )
        return _out(await chart_lists.change(chart, entries, sites, spec, current, body))

    async def stop(
        entry_id: str,
        body: StopRequest,
        caller: CurrentCaller,
        charts: ChartDoor,
        sites: Sites,
        runtime: Runtime,
    ) -> ListEntryOut:
        entries = _entries(runtime, spec)
        current = await chart_lists.load(entries, caller.tenant_id, spec, entry_id)
        chart = await charts.open(
            current["client_id"],
            CHART_WRITERS,
            action="update",
            resource=resource,
            resource_id=entry_id,
        )
        return _out(await chart_lists.stop(chart, entries, sites, spec, current, body))

    kind, one = spec.kind, spec.singular
    router.add_api_route(
        f"/clients/{{client_id}}/{kind}", add, methods=["POST"],
        status_code=status.HTTP_201_CREATED, response_model=ListEntryOut,
        summary=f"Add a {one} to the client's list", name=f"add_{one}",
    )  # fmt: skip
    router.add_api_route(
        f"/clients/{{client_id}}/{kind}", list_, methods=["GET"],
        response_model=PageOut[ListEntryOut], summary=f"The client's {kind}", name=f"list_{kind}",
    )  # fmt: skip
    router.add_api_route(
        f"/{kind}/{{entry_id}}", change, methods=["PATCH"], response_model=ListEntryOut,
        summary=f"Change a {one} (only the fields sent)", name=f"change_{one}",
    )  # fmt: skip
    router.add_api_route(
        f"/{kind}/{{entry_id}}/stop", stop, methods=["POST"], response_model=ListEntryOut,
        summary=f"Stop a {one} (a stop date; the entry stays on record)", name=f"stop_{one}",
    )  # fmt: skip


for _kind in LIST_KINDS:
    _add_routes(SPECS[_kind])
