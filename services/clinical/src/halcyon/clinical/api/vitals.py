"""Vital signs during sessions; a reading over a protocol threshold raises an alert."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.vitals import VitalsReading
from halcyon.clinical.store import NoteRepository, VitalsRepository
from halcyon.clinical.usecases import vitals
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.clinical.usecases.vitals import RESOURCE
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from pydantic import BaseModel

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(tags=["vitals"], dependencies=[SecondFactor])
Readings = Annotated[VitalsRepository, repository(VitalsRepository)]
Notes = Annotated[NoteRepository, repository(NoteRepository)]


class Reading(BaseModel):
    id: str
    client_id: str
    site_id: str
    protocol_id: str
    encounter_id: str | None = None
    measured_at: datetime
    phase: str
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    pulse_per_min: int | None = None
    temperature_c: float | None = None
    spo2_percent: int | None = None
    breaches: list[str]
    alert_id: str | None = None
    recorded_by: str


def _reading(doc: Document) -> Reading:
    return Reading(id=doc["_id"], **{k: v for k, v in doc.items() if k in Reading.model_fields})


@router.post(
    "/clients/{client_id}/vitals",
    status_code=status.HTTP_201_CREATED,
    response_model=Reading,
    summary="Record a vitals reading; over a threshold, the alert is raised in the same write",
)
async def record_vitals(
    client_id: str, body: VitalsReading, charts: ChartDoor, runtime: Runtime
) -> Reading:
    chart = await charts.open(client_id, CHART_WRITERS, action="create", resource=RESOURCE)
    return _reading(await vitals.record_reading(runtime, chart, body))


@router.get(
    "/clients/{client_id}/vitals",
    response_model=PageOut[Reading],
    summary="A client's vitals readings, oldest first",
)
async def list_vitals(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    readings: Readings,
    page: Annotated[PageParams, Depends(page_params)],
    encounter_id: str | None = None,
) -> PageOut[Reading]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource=RESOURCE)
    query: dict[str, str] = {"client_id": client_id}
    if encounter_id:
        query["encounter_id"] = encounter_id
    result = await readings.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await chart.record("read", RESOURCE)
    return PageOut(items=[_reading(d) for d in result.items], next_cursor=result.next_cursor)
