"""Vital signs: a reading over a protocol threshold raises its alert in the same write."""

from __future__ import annotations

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.domain.vitals import VitalsReading, breaches
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import NoteRepository, VitalsRepository
from halcyon.clinical.usecases.chart import CHART_WRITERS, Chart
from halcyon.shared.contracts.clinical import VitalsAlertRaised
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

RESOURCE = "clinical/vitals"


async def record_reading(runtime: ClinicalRuntime, chart: Chart, body: VitalsReading) -> Document:
    await chart.access.require(
        CHART_WRITERS, body.site_id, action="create", resource=RESOURCE, client_id=chart.client_id
    )
    limits = protocol(body.protocol_id).vitals
    if body.measured_at > utcnow():
        raise RuleViolation("the reading is dated in the future")
    tenant_id = chart.tenant_id
    if body.encounter_id:
        note = await runtime.repo(NoteRepository).get(tenant_id, body.encounter_id)
        if note is None or note["client_id"] != chart.client_id:
            raise RuleViolation("the encounter is not this client's")
    found = breaches(body, limits)
    reading_id = str(uuid7())
    doc: Document = {
        "_id": reading_id,
        "client_id": chart.client_id,
        **body.model_dump(),
        "breaches": found,
        "alert_id": None,
        "recorded_by": chart.caller.user_id,
        "recorded_at": utcnow(),
    }
    events = []
    if found:
        doc["alert_id"] = str(uuid7())
        alert = VitalsAlertRaised(
            alert_id=doc["alert_id"],
            client_id=chart.client_id,
            site_id=body.site_id,
            encounter_id=body.encounter_id,
            reading_id=reading_id,
            measured_at=body.measured_at,
            breaches=found,
        )
        events.append(runtime.event(alert, tenant_id=tenant_id))
    # The reading and its alert are one insert: no reading without its alert, ever.
    saved = await runtime.repo(VitalsRepository).insert(tenant_id, doc, events)
    await chart.record("create", RESOURCE, reading_id)
    return saved
