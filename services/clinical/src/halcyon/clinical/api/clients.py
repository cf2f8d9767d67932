"""Clients: registration (with a duplicate warning), search, identifiers, care team."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from halcyon.clinical.api.deps import ChartDoor, Clients, Runtime
from halcyon.clinical.domain.clients import (
    CareTeamMemberOut,
    CareTeamUpdate,
    Client,
    ClientRegistration,
    ClientUpdate,
    IdentifierOut,
    fold,
)
from halcyon.clinical.store import StaffDirectory
from halcyon.clinical.usecases import clients as registry
from halcyon.clinical.usecases.chart import DEMOGRAPHIC_READERS, FRONT_DESK, REGISTRARS
from halcyon.clinical.usecases.clients import CARE_TEAM, RESOURCE
from halcyon.shared.access import Access
from halcyon.shared.auth import ALL_SITES, Caller
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit, repository

router = APIRouter(prefix="/clients", tags=["clients"])
Staff = Annotated[StaffDirectory, repository(StaffDirectory)]


def licence_label(licence: dict[str, Any]) -> str:
    return f"{licence['type']} {licence['state']} {licence['number']}"


def to_client(doc: Document, staff: dict[str, Document] | None = None) -> Client:
    identifiers = [IdentifierOut(system="mrn", value=doc["mrn"])]
    national = doc.get("national_identifier")
    if national:
        identifiers.append(
            IdentifierOut(
                system=national["kind"], value=national["masked"], country=national["country"]
            )
        )
    team = []
    for member in doc.get("care_team", []):
        known = (staff or {}).get(member["staff_id"])
        team.append(
            CareTeamMemberOut(
                staff_id=member["staff_id"],
                role=member["role"],
                display_name=known.get("display_name") if known else None,
                licences=[licence_label(x) for x in known.get("licences", [])] if known else [],
                active=known.get("active") if known else None,
            )
        )
    plain = {
        k: v
        for k, v in doc.items()
        if k in Client.model_fields and k not in {"id", "identifiers", "care_team"}
    }
    return Client(id=doc["_id"], identifiers=identifiers, care_team=team, **plain)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Client,
    summary="Register a client (warns about likely duplicates)",
)
async def register_client(body: ClientRegistration, access: Access, runtime: Runtime) -> Client:
    return to_client(await registry.register_client(runtime, access, body))


async def _staff_for(staff: StaffDirectory, tenant_id: str, doc: Document) -> dict[str, Document]:
    ids = [m["staff_id"] for m in doc.get("care_team", [])]
    if not ids:
        return {}
    return {s["_id"]: s for s in await staff.find(tenant_id, {"_id": {"$in": ids}})}


@router.get("/{client_id}", response_model=Client, summary="Read one client")
async def read_client(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    staff: Staff,
) -> Client:
    chart = await charts.open(
        client_id, DEMOGRAPHIC_READERS, action="read", resource=RESOURCE, resource_id=client_id
    )
    await chart.record("read", RESOURCE, client_id)
    return to_client(chart.client, await _staff_for(staff, caller.tenant_id, chart.client))


def readable_sites(caller: Caller) -> list[str] | None:
    """Sites whose clients the caller may look up; None means every site of the agency."""
    sites = {g.site_id for g in caller.grants if g.role in DEMOGRAPHIC_READERS}
    return None if ALL_SITES in sites else sorted(sites)


@router.get(
    "",
    response_model=PageOut[Client],
    summary="Find clients by name (prefix), date of birth or MRN; paginated",
)
async def search_clients(
    caller: CurrentCaller,
    clients: Clients,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    name: Annotated[str | None, Query(max_length=100, description="family name prefix")] = None,
    date_of_birth: date | None = None,
    mrn: Annotated[str | None, Query(pattern=r"^MRN-[0-9]{6,}$")] = None,
) -> PageOut[Client]:
    caller.require(DEMOGRAPHIC_READERS)
    folded = fold(name) if name else None
    if name is not None and not folded:
        raise RuleViolation("the name to search for has no letters")
    result = await clients.search(
        caller.tenant_id,
        name=folded,
        date_of_birth=date_of_birth.isoformat() if date_of_birth else None,
        mrn=mrn,
        sites=readable_sites(caller),
        limit=page.limit,
        cursor=page.cursor,
    )
    # A search result is a read of each client it shows.
    for doc in result.items:
        await audit.record(
            caller,
            action="search",
            resource=RESOURCE,
            resource_id=doc["_id"],
            client_id=doc["_id"],
            site_id=doc["home_site_id"],
            request=request,
        )
    return PageOut(items=[to_client(d) for d in result.items], next_cursor=result.next_cursor)


@router.put("/{client_id}/care-team", response_model=Client, summary="Set the care team")
async def set_care_team(
    client_id: str,
    body: CareTeamUpdate,
    caller: CurrentCaller,
    charts: ChartDoor,
    staff: Staff,
    runtime: Runtime,
) -> Client:
    roles = FRONT_DESK | {"therapist", "prescriber"}
    chart = await charts.open(client_id, roles, action="update", resource=CARE_TEAM)
    updated = await registry.set_care_team(runtime, chart, body)
    return to_client(updated, await _staff_for(staff, caller.tenant_id, updated))


@router.patch(
    "/{client_id}",
    response_model=Client,
    summary="Change demographics or contact details (only the fields sent)",
)
async def update_client(
    client_id: str,
    body: ClientUpdate,
    caller: CurrentCaller,
    charts: ChartDoor,
    staff: Staff,
    runtime: Runtime,
) -> Client:
    chart = await charts.open(
        client_id, REGISTRARS, action="update", resource=RESOURCE, resource_id=client_id
    )
    updated = await registry.update_client(runtime, chart, body)
    return to_client(updated, await _staff_for(staff, caller.tenant_id, updated))
