"""Scheduling HTTP API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from halcyon.scheduling.store import ClientDirectory
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import repository
from pydantic import BaseModel

router = APIRouter(tags=["clients"])
Directory = Annotated[ClientDirectory, repository(ClientDirectory)]
SCHEDULERS = {"front_desk", "agency_admin", "therapist", "prescriber", "nurse"}


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
    client_id: str, caller: CurrentCaller, directory: Directory
) -> SchedulableClient:
    doc = await directory.get(caller.tenant_id, client_id)
    if doc is None:
        raise NotFound(f"scheduling does not know client {client_id} (yet)")
    caller.require(SCHEDULERS, doc["home_site_id"])
    return SchedulableClient(
        id=doc["_id"],
        display_name=doc["display_name"],
        home_site_id=doc["home_site_id"],
        preferred_language=doc.get("preferred_language"),
    )
