"""Psychedelic-therapy eligibility screening, signed by a prescriber; protocols as data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.protocols import PROTOCOLS, Protocol
from halcyon.clinical.domain.screening import Finding, ScreeningRequest
from halcyon.clinical.store import (
    ScreeningRepository,
)
from halcyon.clinical.usecases import screening
from halcyon.clinical.usecases.chart import CHART_READERS, PRESCRIBERS
from halcyon.clinical.usecases.screening import RESOURCE
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from pydantic import BaseModel

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
    client_id: str, body: ScreeningRequest, charts: ChartDoor, runtime: Runtime
) -> Screening:
    chart = await charts.open(client_id, PRESCRIBERS, action="create", resource=RESOURCE)
    return _screening(await screening.screen(runtime, chart, body))


@router.get(
    "/clients/{client_id}/screenings",
    response_model=PageOut[Screening],
    summary="A client's screenings",
)
async def list_screenings(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    screenings: Screenings,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Screening]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource=RESOURCE)
    result = await screenings.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", RESOURCE)
    return PageOut(items=[_screening(d) for d in result.items], next_cursor=result.next_cursor)
