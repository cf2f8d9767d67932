"""SPRAVATO REMS Patient Monitoring Forms: each REMS session's 7-day deadline, tracked
until the form is recorded as submitted (reminders: usecases/rems.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter
from halcyon.clinical.api.deps import ChartDoor
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import RemsForms
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.shared.errors import Conflict
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.mongo import Document, as_record
from halcyon.shared.service import repository
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["rems"])
Forms = Annotated[RemsForms, repository(RemsForms)]
RESOURCE = "clinical/rems-form"


class RemsForm(BaseModel):
    id: str
    note_id: str
    client_id: str
    site_id: str
    protocol_id: str
    session_on: date
    due_on: date
    status: str
    reminders_sent: list[str] = []
    submitted_on: date | None = None
    submitted_by: str | None = None
    confirmation: str | None = None


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submitted_on: date
    confirmation: str | None = Field(default=None, max_length=100)


def _form(doc: Document) -> RemsForm:
    return RemsForm.model_validate(as_record(doc))


@router.get(
    "/clients/{client_id}/rems-forms",
    response_model=list[RemsForm],
    summary="The client's REMS Patient Monitoring Forms and their due days",
)
async def list_forms(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    forms: Forms,
) -> list[RemsForm]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource=RESOURCE)
    found = await forms.find(caller.tenant_id, {"client_id": client_id}, limit=200)
    await chart.record("read", RESOURCE)
    return [_form(d) for d in sorted(found, key=lambda d: d["due_on"])]


@router.post(
    "/rems-forms/{form_id}/submitted",
    response_model=RemsForm,
    summary="Record that the REMS Patient Monitoring Form was submitted (stops reminders)",
)
async def form_submitted(
    form_id: str,
    body: Submission,
    caller: CurrentCaller,
    charts: ChartDoor,
    forms: Forms,
) -> RemsForm:
    doc = await forms.get(caller.tenant_id, form_id)
    if doc is None:
        raise await charts.access.missing(
            "REMS form", form_id, action="update", resource="rems_form", resource_id=form_id
        )
    chart = await charts.open(
        doc["client_id"], CHART_WRITERS, action="update", resource=RESOURCE, resource_id=form_id
    )
    now: datetime = utcnow()
    updated = await forms.update(
        caller.tenant_id,
        {"_id": form_id, "status": "open"},
        {
            "$set": {
                "status": "submitted",
                "submitted_on": body.submitted_on.isoformat(),
                "submitted_by": caller.user_id,
                "confirmation": body.confirmation,
                "recorded_at": now,
            }
        },
    )
    if updated is None:
        raise Conflict("the form is already recorded as submitted")
    await chart.record("update", RESOURCE, form_id)
    return _form(updated)
