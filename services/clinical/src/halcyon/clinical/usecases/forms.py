"""Agency questionnaires: answer one against its published version, validated and scored."""

from __future__ import annotations

from typing import Any

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.forms import FormDefinition, questionnaire_score, validate_answers
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import FormRepository, QuestionnaireResponseRepository
from halcyon.clinical.usecases.chart import CHART_WRITERS, Chart
from halcyon.shared.errors import NotFound, RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

RESPONSE = "clinical/questionnaire-response"


async def questionnaire(
    runtime: ClinicalRuntime, tenant_id: str, key: str, version: int
) -> FormDefinition:
    doc = await runtime.repo(FormRepository).find_one(tenant_id, {"key": key, "version": version})
    if doc is None:
        raise NotFound(f"no form {key} version {version}")
    form = FormDefinition.model_validate(doc["definition"])
    if form.kind != "questionnaire":
        raise RuleViolation(f"{key} is a note template, not a questionnaire")
    return form


async def answer_questionnaire(
    runtime: ClinicalRuntime,
    chart: Chart,
    *,
    site_id: str,
    form_key: str,
    form_version: int,
    answers: dict[str, Any],
    fields: dict[str, Any],
) -> Document:
    """Keep a client's answers to a questionnaire, with its score; audited."""
    await chart.access.require(
        CHART_WRITERS, site_id, action="create", resource=RESPONSE, client_id=chart.client_id
    )
    form = await questionnaire(runtime, chart.tenant_id, form_key, form_version)
    validate_answers(form, answers)
    saved = await runtime.repo(QuestionnaireResponseRepository).insert(
        chart.tenant_id,
        {
            "_id": str(uuid7()),
            "client_id": chart.client_id,
            **fields,
            "score": questionnaire_score(form, answers),
            "recorded_by": chart.caller.user_id,
            "recorded_at": utcnow(),
        },
    )
    await chart.record("create", RESPONSE, saved["_id"])
    return saved
