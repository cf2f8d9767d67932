"""Clients as scheduling knows them (read model of clinical's events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from halcyon.scheduling.api.common import ID_PATTERN, READERS, SCHEDULERS, SchedulerDep, guarded
from halcyon.scheduling.domain.gating import check_protocol
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
    # The client's name and home site are client data: the read itself is audited.
    await audit.record(
        caller,
        action="read",
        resource="scheduling/client",
        resource_id=client_id,
        client_id=client_id,
        site_id=doc["home_site_id"],
        request=request,
    )
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
    caller: CurrentCaller,
    scheduler: SchedulerDep,
    audit: Audit,
    request: Request,
) -> ProtocolReadiness:
    doc = await scheduler.clients.get(caller.tenant_id, client_id)
    if doc is None:
        raise NotFound(f"scheduling does not know client {client_id} (yet)")
    await guarded(
        caller,
        READERS,
        doc["home_site_id"],
        audit,
        request,
        action="read",
        resource="scheduling/protocol-readiness",
        client_id=client_id,
    )
    protocol = scheduler.protocol(protocol_id)
    if protocol is None:
        raise NotFound(f"no protocol {protocol_id}")
    facts = await scheduler.client_protocol_facts(
        caller.tenant_id, client_id, protocol, exclude=None
    )
    dosing = await scheduler.appointment_type(caller.tenant_id, protocol.dosing_type)
    now = datetime.now(UTC)
    refusals = {f.code for f in check_protocol(dosing, protocol, facts, now)} if dosing else set()
    screenings = sorted(
        (s for s in facts.screenings if s.protocol_id == protocol_id), key=lambda s: s.signed_at
    )
    await audit.record(
        caller,
        action="read",
        resource="scheduling/protocol-readiness",
        client_id=client_id,
        site_id=doc["home_site_id"],
        request=request,
    )
    return ProtocolReadiness(
        client_id=client_id,
        protocol_id=protocol_id,
        informed_consent="informed_consent" not in refusals,
        eligible_screening=screenings[-1].eligible if screenings else None,
        completed_preparation_sessions=len(facts.completed_preparations),
        preparation_sessions_required=protocol.preparation_sessions_required,
        dosing_sessions=sorted(facts.other_dosing_sessions),
        min_days_between_dosing=protocol.min_days_between_dosing,
    )
