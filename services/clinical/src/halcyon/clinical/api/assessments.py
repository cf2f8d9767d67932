"""Measurement-based care: scored instruments, score history, safety alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from halcyon.clinical.domain.assessments import AssessmentSubmission, Instrument, score
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import AssessmentRepository
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS, Clients, event, open_chart
from halcyon.shared.contracts.clinical import AssessmentScored, SafetyAlertRaised
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel
from uuid6 import uuid7

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
    client_id: str,
    body: AssessmentSubmission,
    caller: CurrentCaller,
    clients: Clients,
    assessments: Assessments,
    audit: Audit,
    request: Request,
) -> Assessment:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_WRITERS,
        action="create",
        resource="clinical/assessment",
    )
    caller.require(CHART_WRITERS, body.site_id)
    if body.administered_at > utcnow():
        raise RuleViolation("the assessment is dated in the future")
    result = score(body)  # raises 422 on any invalid answer, before anything is written
    now = utcnow()
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": client_id,
        **body.model_dump(),
        "total": result.total,
        "severity": result.severity,
        "positive": result.positive,
        "risk": result.risk,
        "safety_alert_id": None,
        "safety_alert_reason": result.safety_alert,
        "recorded_by": caller.user_id,
        "recorded_at": now,
    }
    events = [
        event(
            AssessmentScored(
                assessment_id=doc["_id"],
                client_id=client_id,
                instrument=body.instrument,
                total=result.total,
                severity=result.severity,
                scored_at=now,
            ),
            caller.tenant_id,
        )
    ]
    if result.safety_alert:
        doc["safety_alert_id"] = str(uuid7())
        events.append(
            event(
                SafetyAlertRaised(
                    alert_id=doc["safety_alert_id"],
                    client_id=client_id,
                    site_id=body.site_id,
                    assessment_id=doc["_id"],
                    instrument=body.instrument,
                    reason=result.safety_alert,
                    raised_at=now,
                ),
                caller.tenant_id,
            )
        )
    saved = await assessments.insert(caller.tenant_id, doc, events)
    await chart.record("create", "clinical/assessment", saved["_id"])
    return _assessment(saved)


@router.get(
    "/clients/{client_id}/assessments",
    response_model=PageOut[Assessment],
    summary="Score history, oldest first; filter by instrument",
)
async def score_history(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    assessments: Assessments,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    instrument: Instrument | None = None,
) -> PageOut[Assessment]:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_READERS,
        action="read",
        resource="clinical/assessment",
    )
    query: dict[str, str] = {"client_id": client_id}
    if instrument:
        query["instrument"] = instrument
    result = await assessments.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    await chart.record("read", "clinical/assessment")
    return PageOut(items=[_assessment(d) for d in result.items], next_cursor=result.next_cursor)
