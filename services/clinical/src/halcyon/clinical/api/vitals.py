"""Vital signs during sessions; a reading over a protocol threshold raises an alert."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.domain.vitals import VitalsReading, breaches
from halcyon.clinical.store import NoteRepository, VitalsRepository
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS, Clients, event, open_chart
from halcyon.shared.contracts.clinical import VitalsAlertRaised
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel
from uuid6 import uuid7

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
    client_id: str,
    body: VitalsReading,
    caller: CurrentCaller,
    clients: Clients,
    readings: Readings,
    notes: Notes,
    audit: Audit,
    request: Request,
) -> Reading:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_WRITERS,
        action="create",
        resource="clinical/vitals",
    )
    caller.require(CHART_WRITERS, body.site_id)
    limits = protocol(body.protocol_id).vitals
    if body.measured_at > utcnow():
        raise RuleViolation("the reading is dated in the future")
    if body.encounter_id:
        note = await notes.get(caller.tenant_id, body.encounter_id)
        if note is None or note["client_id"] != client_id:
            raise RuleViolation("the encounter is not this client's")
    found = breaches(body, limits)
    reading_id = str(uuid7())
    doc: Document = {
        "_id": reading_id,
        "client_id": client_id,
        **body.model_dump(),
        "breaches": found,
        "alert_id": None,
        "recorded_by": caller.user_id,
        "recorded_at": utcnow(),
    }
    events = []
    if found:
        doc["alert_id"] = str(uuid7())
        alert = VitalsAlertRaised(
            alert_id=doc["alert_id"],
            client_id=client_id,
            site_id=body.site_id,
            encounter_id=body.encounter_id,
            reading_id=reading_id,
            measured_at=body.measured_at,
            breaches=found,
        )
        events.append(event(alert, caller.tenant_id))
    # The reading and its alert are one insert: no reading without its alert, ever.
    saved = await readings.insert(caller.tenant_id, doc, events)
    await chart.record("create", "clinical/vitals", reading_id)
    return _reading(saved)


@router.get(
    "/clients/{client_id}/vitals",
    response_model=PageOut[Reading],
    summary="A client's vitals readings, oldest first",
)
async def list_vitals(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    readings: Readings,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    encounter_id: str | None = None,
) -> PageOut[Reading]:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_READERS,
        action="read",
        resource="clinical/vitals",
    )
    query: dict[str, str] = {"client_id": client_id}
    if encounter_id:
        query["encounter_id"] = encounter_id
    result = await readings.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await chart.record("read", "clinical/vitals")
    return PageOut(items=[_reading(d) for d in result.items], next_cursor=result.next_cursor)
