"""Eligibility screening: evaluate a protocol against the chart, the prescriber signs it."""

from __future__ import annotations

from halcyon.clinical.domain.chart_lists import facts_for_screening, with_listed_facts
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.domain.screening import ScreeningHistory, ScreeningRequest, evaluate
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import (
    AllergyRepository,
    MedicationRepository,
    ProblemRepository,
    ScreeningRepository,
)
from halcyon.clinical.usecases.chart import Chart
from halcyon.shared.contracts.clinical import ScreeningCompleted
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

# Far more than any real list; bounds the read.
_LIST_LIMIT = 500


async def history_with_lists(
    tenant_id: str,
    client_id: str,
    typed: ScreeningHistory,
    medications: MedicationRepository,
    allergies: AllergyRepository,
    problems: ProblemRepository,
) -> ScreeningHistory:
    """What the prescriber typed plus what the chart's lists say on the screening day."""
    scope = {"client_id": client_id}
    facts = facts_for_screening(
        await medications.find(tenant_id, scope, limit=_LIST_LIMIT),
        await allergies.find(tenant_id, scope, limit=_LIST_LIMIT),
        await problems.find(tenant_id, scope, limit=_LIST_LIMIT),
        typed.screened_on,
    )
    return with_listed_facts(typed, facts)


RESOURCE = "clinical/screening"


async def screen(runtime: ClinicalRuntime, chart: Chart, body: ScreeningRequest) -> Document:
    """Evaluate the client against the protocol and record it, signed by the prescriber."""
    chosen = protocol(body.protocol_id)
    now = utcnow()
    if body.history.screened_on > now.date():
        raise RuleViolation("the screening date is in the future")
    tenant_id = chart.tenant_id
    history = await history_with_lists(
        tenant_id,
        chart.client_id,
        body.history,
        runtime.repo(MedicationRepository),
        runtime.repo(AllergyRepository),
        runtime.repo(ProblemRepository),
    )
    result = evaluate(chosen, history)
    signer = chart.caller.user_id
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": chart.client_id,
        "protocol_id": chosen.id,
        "eligible": result.eligible,
        "decision": result.decision,
        "reasons": [r.model_dump() for r in result.reasons],
        # What was evaluated: the typed history plus what the lists added.
        "history": history.model_dump(mode="json"),
        # Signing is the act of recording: only a prescriber reaches this line.
        "signed_by": signer,
        "signed_at": now,
    }
    completed = ScreeningCompleted(
        screening_id=doc["_id"],
        client_id=chart.client_id,
        protocol_id=chosen.id,
        eligible=result.eligible,
        reasons=[r.code for r in result.reasons],
        signed_by=signer,
        signed_at=now,
    )
    events = [runtime.event(completed, tenant_id=tenant_id)]
    saved = await runtime.repo(ScreeningRepository).insert(tenant_id, doc, events)
    await chart.record("create", RESOURCE, saved["_id"])
    return saved
