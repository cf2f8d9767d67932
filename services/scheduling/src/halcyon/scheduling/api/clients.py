"""Clients as scheduling knows them (read model of clinical's events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from halcyon.scheduling.api.common import SCHEDULERS, guarded
from halcyon.scheduling.store import ClientDirectory
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel

router = APIRouter(tags=["clients"])
Directory = Annotated[ClientDirectory, repository(ClientDirectory)]


class SchedulableClient(BaseModel):
    id: str
    display_name: str
    home_site_id: str
    preferred_language: str | None = None


@router.get(
    "/clients/{client_id}",
    response_model=SchedulableClient,
    summary="A client as scheduling knows them (from clinical's events)",
)
async def read_client(
    client_id: str, caller: CurrentCaller, directory: Directory, audit: Audit, request: Request
) -> SchedulableClient:
    doc = await directory.get(caller.tenant_id, client_id)
    if doc is None:
        raise NotFound(f"scheduling does not know client {client_id} (yet)")
    await guarded(
        caller,
        SCHEDULERS,
        doc["home_site_id"],
        audit,
        request,
        action="read",
        resource="scheduling/client",
        resource_id=client_id,
        client_id=client_id,
    )
    return SchedulableClient(
        id=doc["_id"],
        display_name=doc["display_name"],
        home_site_id=doc["home_site_id"],
        preferred_language=doc.get("preferred_language"),
    )
