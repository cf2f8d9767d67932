"""Measurement-based care: scored instruments, score history, safety alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.assessments import AssessmentSubmission, Instrument
from halcyon.clinical.store import AssessmentRepository
from halcyon.clinical.usecases import assessments
from halcyon.clinical.usecases.assessments import RESOURCE
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from pydantic import BaseModel

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(tags=["assessments"], dependencies=[SecondFactor])
Assessments = Annotated[AssessmentRepository, repository(AssessmentRepository)]


class Assessment(BaseModel):
    id: str
    client_id: str
    site_id: str
    instrument: str
    administered_at: datetime
    encounter_id: str | None = None
    items: list[int] | None = None
    cssrs: dict[str, Any] | None = None
    total: int | None = None
    severity: str
    positive: bool = False
    risk: str | None = None
    safety_alert_id: str | None = None
    safety_alert_reason: str | None = None
    recorded_by: str


def _assessment(doc: Document) -> Assessment:
    return Assessment(
        id=doc["_id"], **{k: v for k, v in doc.items() if k in Assessment.model_fields}
    )


@router.post(
    "/clients/{client_id}/assessments",
    status_code=status.HTTP_201_CREATED,
    response_model=Assessment,
    summary="Score an instrument (PHQ-9, GAD-7, PCL-5, C-SSRS screener)",
)
async def submit_assessment(
    client_id: str, body: AssessmentSubmission, charts: ChartDoor, runtime: Runtime
) -> Assessment:
    chart = await charts.open(client_id, CHART_WRITERS, action="create", resource=RESOURCE)
    return _assessment(await assessments.record_assessment(runtime, chart, body))


@router.get(
    "/clients/{client_id}/assessments",
    response_model=PageOut[Assessment],
    summary="Score history, oldest first; filter by instrument",
)
async def score_history(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    assessments: Assessments,
    page: Annotated[PageParams, Depends(page_params)],
    instrument: Instrument | None = None,
) -> PageOut[Assessment]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource=RESOURCE)
    query: dict[str, str] = {"client_id": client_id}
    if instrument:
        query["instrument"] = instrument
    result = await assessments.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await chart.record("read", RESOURCE)
    return PageOut(items=[_assessment(d) for d in result.items], next_cursor=result.next_cursor)
