"""Agency-defined note templates and questionnaires, versioned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.chart import CHART_READERS
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.forms import BUILTIN_FORMS, FormDefinition
from halcyon.clinical.store import FormRepository
from halcyon.shared.errors import Conflict, NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, DuplicateRecord
from halcyon.shared.service import repository
from pydantic import BaseModel

router = APIRouter(prefix="/forms", tags=["forms"])
Forms = Annotated[FormRepository, repository(FormRepository)]
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
