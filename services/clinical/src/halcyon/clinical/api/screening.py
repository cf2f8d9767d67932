"""Psychedelic-therapy eligibility screening, signed by a prescriber; protocols as data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.protocols import PROTOCOLS, Protocol, protocol
from halcyon.clinical.domain.screening import Finding, ScreeningRequest, evaluate
from halcyon.clinical.store import (
    AllergyRepository,
    MedicationRepository,
    ProblemRepository,
    ScreeningRepository,
)
from halcyon.clinical.usecases.chart import CHART_READERS, PRESCRIBERS, Clients, event, open_chart
from halcyon.clinical.usecases.screening import history_with_lists
from halcyon.shared.contracts.clinical import ScreeningCompleted
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel
from uuid6 import uuid7

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(tags=["screening"], dependencies=[SecondFactor])
Screenings = Annotated[ScreeningRepository, repository(ScreeningRepository)]


class Screening(BaseModel):
    id: str
    client_id: str
    protocol_id: str
    eligible: bool
    decision: str
    reasons: list[Finding]
    history: dict[str, Any]
    signed_by: str
    signed_at: Any


def _screening(doc: Document) -> Screening:
    return Screening(id=doc["_id"], **{k: v for k, v in doc.items() if k in Screening.model_fields})


@router.get("/protocols", response_model=list[Protocol], summary="Psychedelic-therapy protocols")
async def list_protocols(caller: CurrentCaller) -> list[Protocol]:
    caller.require(CHART_READERS | {"front_desk", "scheduler"})
    return list(PROTOCOLS.values())


@router.post(
    "/clients/{client_id}/screenings",
    status_code=status.HTTP_201_CREATED,
    response_model=Screening,
    summary="Screen a client against a protocol; the prescriber's signature completes it",
)
async def screen(
    client_id: str,
    body: ScreeningRequest,
    caller: CurrentCaller,
    clients: Clients,
    screenings: Screenings,
    medications: Annotated[MedicationRepository, repository(MedicationRepository)],
    allergies: Annotated[AllergyRepository, repository(AllergyRepository)],
    problems: Annotated[ProblemRepository, repository(ProblemRepository)],
    audit: Audit,
    request: Request,
) -> Screening:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        PRESCRIBERS,
        action="create",
        resource="clinical/screening",
    )
    chosen = protocol(body.protocol_id)
    now = utcnow()
    if body.history.screened_on > now.date():
        raise RuleViolation("the screening date is in the future")
    history = await history_with_lists(
        caller.tenant_id, client_id, body.history, medications, allergies, problems
    )
    result = evaluate(chosen, history)
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": client_id,
        "protocol_id": chosen.id,
        "eligible": result.eligible,
        "decision": result.decision,
        "reasons": [r.model_dump() for r in result.reasons],
        # What was evaluated: the typed history plus what the lists added.
        "history": history.model_dump(mode="json"),
        # Signing is the act of recording: only a prescriber reaches this line.
        "signed_by": caller.user_id,
        "signed_at": now,
    }
    completed = ScreeningCompleted(
        screening_id=doc["_id"],
        client_id=client_id,
        protocol_id=chosen.id,
        eligible=result.eligible,
        reasons=[r.code for r in result.reasons],
        signed_by=caller.user_id,
        signed_at=now,
    )
    saved = await screenings.insert(caller.tenant_id, doc, [event(completed, caller.tenant_id)])
    await chart.record("create", "clinical/screening", saved["_id"])
    return _screening(saved)


@router.get(
    "/clients/{client_id}/screenings",
    response_model=PageOut[Screening],
    summary="A client's screenings",
)
async def list_screenings(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    screenings: Screenings,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Screening]:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_READERS,
        action="read",
        resource="clinical/screening",
    )
    result = await screenings.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", "clinical/screening")
    return PageOut(items=[_screening(d) for d in result.items], next_cursor=result.next_cursor)
