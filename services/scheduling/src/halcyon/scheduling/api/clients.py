"""Clients as scheduling knows them (read model of clinical's events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from halcyon.scheduling.api.common import ID_PATTERN, READERS, SCHEDULERS
from halcyon.scheduling.api.deps import Directory, SchedulerDep
from halcyon.scheduling.usecases.readiness import protocol_readiness as readiness_of
from halcyon.shared.access import Access, RecordAccess
from halcyon.shared.mongo import Document
from pydantic import BaseModel

router = APIRouter(tags=["clients"])


class SchedulableClient(BaseModel):
    id: str
    display_name: str
    home_site_id: str
    preferred_language: str | None = None


async def _audit_read(access: RecordAccess, doc: Document, resource: str) -> None:
    # The client's name and home site are client data: the read itself is audited.
    await access.audit.record(
        access.caller,
        action="read",
        resource=resource,
        resource_id=doc["_id"] if resource == "scheduling/client" else None,
        client_id=doc["_id"],
        site_id=doc["home_site_id"],
        request=access.request,
    )


@router.get(
    "/clients/{client_id}",
    response_model=SchedulableClient,
    summary="A client as scheduling knows them (from clinical's events)",
)
async def read_client(client_id: str, access: Access, directory: Directory) -> SchedulableClient:
    resource = "scheduling/client"
    doc = await access.open_client(
        directory,
        client_id,
        SCHEDULERS,
        action="read",
        resource=resource,
    )
    await _audit_read(access, doc, resource)
    return SchedulableClient(
        id=doc["_id"],
        display_name=doc["display_name"],
        home_site_id=doc["home_site_id"],
        preferred_language=doc.get("preferred_language"),
    )


class ProtocolReadiness(BaseModel):
    """Where a client stands on a protocol's dosing conditions (what front desk checks)."""

    client_id: str
    protocol_id: str
    informed_consent: bool
    eligible_screening: bool | None = None  # None: no screening yet
    completed_preparation_sessions: int
    preparation_sessions_required: int
    dosing_sessions: list[datetime]
    min_days_between_dosing: int


@router.get(
    "/clients/{client_id}/protocols/{protocol_id}/readiness",
    response_model=ProtocolReadiness,
    summary="Consent, screening and preparation status for a protocol (from clinical's events)",
)
async def protocol_readiness(
    client_id: Annotated[str, Path(pattern=ID_PATTERN)],
    protocol_id: Annotated[str, Path(pattern=ID_PATTERN)],
    access: Access,
    scheduler: SchedulerDep,
) -> ProtocolReadiness:
    resource = "scheduling/protocol-readiness"
    doc = await access.open_client(
        scheduler.clients,
        client_id,
        READERS,
        action="read",
        resource=resource,
    )
    readiness = await readiness_of(scheduler, access.tenant_id, client_id, protocol_id)
    await _audit_read(access, doc, resource)
    return ProtocolReadiness.model_validate(readiness, from_attributes=True)
