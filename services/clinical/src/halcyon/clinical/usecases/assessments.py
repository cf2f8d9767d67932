"""Measurement-based care: score an instrument, record it, raise a safety alert with it."""

from __future__ import annotations

from halcyon.clinical.domain.assessments import AssessmentSubmission, score
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import AssessmentRepository
from halcyon.clinical.usecases.chart import CHART_WRITERS, Chart
from halcyon.shared.contracts.clinical import AssessmentScored, SafetyAlertRaised
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

RESOURCE = "clinical/assessment"


async def record_assessment(
    runtime: ClinicalRuntime, chart: Chart, body: AssessmentSubmission
) -> Document:
    """Score and keep one administration; the score and any safety alert are one write."""
    await chart.access.require(
        CHART_WRITERS, body.site_id, action="create", resource=RESOURCE, client_id=chart.client_id
    )
    if body.administered_at > utcnow():
        raise RuleViolation("the assessment is dated in the future")
    result = score(body)  # raises 422 on any invalid answer, before anything is written
    now = utcnow()
    tenant_id = chart.tenant_id
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": chart.client_id,
        **body.model_dump(),
        "total": result.total,
        "severity": result.severity,
        "positive": result.positive,
        "risk": result.risk,
        "safety_alert_id": None,
        "safety_alert_reason": result.safety_alert,
        "recorded_by": chart.caller.user_id,
        "recorded_at": now,
    }
    scored = AssessmentScored(
        assessment_id=doc["_id"],
        client_id=chart.client_id,
        instrument=body.instrument,
        total=result.total,
        severity=result.severity,
        scored_at=now,
    )
    events = [runtime.event(scored, tenant_id=tenant_id)]
    if result.safety_alert:
        doc["safety_alert_id"] = str(uuid7())
        alert = SafetyAlertRaised(
            alert_id=doc["safety_alert_id"],
            client_id=chart.client_id,
            site_id=body.site_id,
            assessment_id=doc["_id"],
            instrument=body.instrument,
            reason=result.safety_alert,
            raised_at=now,
        )
        events.append(runtime.event(alert, tenant_id=tenant_id))
    saved = await runtime.repo(AssessmentRepository).insert(tenant_id, doc, events)
    await chart.record("create", RESOURCE, saved["_id"])
    return saved
