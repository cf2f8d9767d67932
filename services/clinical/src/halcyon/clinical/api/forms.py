"""Agency-defined note templates and questionnaires, versioned."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.common import AwareDatetime, utcnow
from halcyon.clinical.domain.forms import (
    BUILTIN_FORMS,
    FormDefinition,
)
from halcyon.clinical.store import FormRepository, QuestionnaireResponseRepository
from halcyon.clinical.usecases import forms as forms_usecase
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.clinical.usecases.forms import RESPONSE
from halcyon.shared.errors import Conflict, NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, DuplicateRecord
from halcyon.shared.service import repository
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

router = APIRouter(prefix="/forms", tags=["forms"])
questionnaires = APIRouter(tags=["forms"])
Forms = Annotated[FormRepository, repository(FormRepository)]
Responses = Annotated[QuestionnaireResponseRepository, repository(QuestionnaireResponseRepository)]
FORM_ADMINS = frozenset({"agency_admin"})


class Form(BaseModel):
    key: str
    version: int
    definition: dict[str, Any]
    published_by: str | None = None


def _form(doc: Document) -> Form:
    return Form(
        key=doc["key"],
        version=doc["version"],
        definition=doc["definition"],
        published_by=doc.get("published_by"),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Form,
    summary="Publish a form: version 1 of a new key, or the next version of an existing one",
)
async def publish_form(body: FormDefinition, caller: CurrentCaller, forms: Forms) -> Form:
    caller.require(FORM_ADMINS)
    latest = await forms.latest(caller.tenant_id, body.key)
    version = (latest["version"] + 1) if latest else 1
    try:
        doc = await forms.insert(
            caller.tenant_id,
            {
                "_id": f"{body.key}@{version}",
                "key": body.key,
                "version": version,
                "definition": body.model_dump(mode="json"),
                "published_by": caller.user_id,
                "published_at": utcnow(),
            },
        )
    except DuplicateRecord:
        raise Conflict("another version was published at the same moment; retry") from None
    return _form(doc)


@router.get("", response_model=PageOut[Form], summary="Every version of every agency form")
async def list_forms(
    caller: CurrentCaller, forms: Forms, page: Annotated[PageParams, Depends(page_params)]
) -> PageOut[Form]:
    caller.require(CHART_READERS | FORM_ADMINS)
    result = await forms.page(caller.tenant_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_form(d) for d in result.items], next_cursor=result.next_cursor)


@router.get("/{key}/versions/{version}", response_model=Form, summary="One version of a form")
async def read_form(key: str, version: int, caller: CurrentCaller, forms: Forms) -> Form:
    caller.require(CHART_READERS | FORM_ADMINS)
    builtin = BUILTIN_FORMS.get(key)
    if builtin is not None and version == 1:
        return Form(key=key, version=1, definition=builtin.model_dump(mode="json"))
    doc = await forms.find_one(caller.tenant_id, {"key": key, "version": version})
    if doc is None:
        raise NotFound(f"no form {key} version {version}")
    return _form(doc)


class QuestionnaireAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form_key: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    form_version: Annotated[int, Field(ge=1)]
    site_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    administered_at: AwareDatetime
    answers: dict[str, Any]


class QuestionnaireResponse(BaseModel):
    id: str
    client_id: str
    form_key: str
    form_version: int
    site_id: str
    administered_at: datetime
    answers: dict[str, Any]
    score: int | None = None
    recorded_by: str


def _response(doc: Document) -> QuestionnaireResponse:
    return QuestionnaireResponse(
        id=doc["_id"],
        **{k: v for k, v in doc.items() if k in QuestionnaireResponse.model_fields and k != "id"},
    )


@questionnaires.post(
    "/clients/{client_id}/questionnaire-responses",
    status_code=status.HTTP_201_CREATED,
    response_model=QuestionnaireResponse,
    summary="Answer an agency questionnaire (validated and scored against its version)",
)
async def answer_questionnaire(
    client_id: str, body: QuestionnaireAnswers, charts: ChartDoor, runtime: Runtime
) -> QuestionnaireResponse:
    chart = await charts.open(client_id, CHART_WRITERS, action="create", resource=RESPONSE)
    saved = await forms_usecase.answer_questionnaire(
        runtime,
        chart,
        site_id=body.site_id,
        form_key=body.form_key,
        form_version=body.form_version,
        answers=body.answers,
        fields=body.model_dump(),
    )
    return _response(saved)


@questionnaires.get(
    "/clients/{client_id}/questionnaire-responses",
    response_model=PageOut[QuestionnaireResponse],
    summary="A client's questionnaire responses, oldest first",
)
async def list_questionnaire_responses(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    responses: Responses,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[QuestionnaireResponse]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource=RESPONSE)
    result = await responses.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", RESPONSE)
    return PageOut(items=[_response(d) for d in result.items], next_cursor=result.next_cursor)
