"""Encounter notes: drafts, signature (locked + hashed), co-signature, addenda."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from halcyon.clinical.api.deps import ChartDoor, NoteDesk
from halcyon.clinical.domain.notes import (
    AddendumDraft,
    NoteDraft,
    SignRequest,
    content_hash,
    doses_for_note,
    verify,
)
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.domain.vitals import monitoring_form_due
from halcyon.clinical.store import DispensedDoses, FormRepository, NoteRepository
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.clinical.usecases.notes import RESOURCE
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from pydantic import BaseModel

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(tags=["encounters and notes"], dependencies=[SecondFactor])
Notes = Annotated[NoteRepository, repository(NoteRepository)]
Forms = Annotated[FormRepository, repository(FormRepository)]
Doses = Annotated[DispensedDoses, repository(DispensedDoses)]


class Note(BaseModel):
    id: str
    client_id: str
    site_id: str
    kind: str
    status: str
    author_id: str
    template_id: str | None = None
    template_version: int | None = None
    appointment_id: str | None = None
    episode_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    place_of_service: str | None = None
    telehealth: bool | None = None
    audio_only: bool = False
    with_patient_present: bool | None = None
    clinicians: list[dict[str, Any]] = []
    diagnoses: list[str] = []
    psychotherapy_minutes: int | None = None
    content: dict[str, Any] = {}
    dosing: dict[str, Any] | None = None
    part2: bool = False
    signed_by: str | None = None
    signed_at: datetime | None = None
    content_hash: str | None = None
    supervisor_id: str | None = None
    cosigned_by: str | None = None
    cosigned_at: datetime | None = None
    # Addenda
    addendum_of: str | None = None
    text: str | None = None
    reason: str | None = None
    billing_correction: dict[str, Any] | None = None
    revision: int | None = None
    compliance_flags: list[str] = []
    # Joined when read
    addenda: list[str] = []
    dispensed_doses: list[dict[str, Any]] = []
    rems_monitoring_form_due: datetime | None = None


class Verification(BaseModel):
    note_id: str
    status: str
    content_hash: str | None
    recomputed_hash: str
    valid: bool


def _note(doc: Document, **joined: Any) -> Note:
    fields = {k: v for k, v in doc.items() if k in Note.model_fields and k != "id"}
    return Note(id=doc["_id"], **{**fields, **joined})


@router.post(
    "/clients/{client_id}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=Note,
    summary="Start an encounter note (draft)",
)
async def write_note(client_id: str, body: NoteDraft, charts: ChartDoor, desk: NoteDesk) -> Note:
    chart = await charts.open(client_id, CHART_WRITERS, action="create", resource=RESOURCE)
    return _note(await desk.write(chart, body))


@router.put("/notes/{note_id}", response_model=Note, summary="Replace a draft note")
async def edit_note(note_id: str, body: NoteDraft, desk: NoteDesk) -> Note:
    chart, _ = await desk.open_draft(note_id, CHART_WRITERS, "update")
    return _note(await desk.edit(chart, note_id, body))


@router.delete(
    "/notes/{note_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Discard a draft note"
)
async def discard_note(note_id: str, desk: NoteDesk) -> Response:
    chart, _ = await desk.open_draft(note_id, CHART_WRITERS, "delete")
    await desk.discard(chart, note_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/notes/{note_id}/sign", response_model=Note, summary="Sign and lock a note")
async def sign_note(note_id: str, body: SignRequest, desk: NoteDesk) -> Note:
    chart, doc = await desk.open_draft(note_id, CHART_WRITERS, "sign")
    return _note(await desk.sign(chart, doc, body))


@router.post(
    "/notes/{note_id}/cosign",
    response_model=Note,
    summary="Co-sign a supervised clinician's note (the supervisor only)",
)
async def cosign_note(note_id: str, desk: NoteDesk) -> Note:
    chart, doc = await desk.open(note_id, CHART_WRITERS, "sign")
    return _note(await desk.cosign(chart, doc))


@router.post(
    "/notes/{note_id}/addenda",
    status_code=status.HTTP_201_CREATED,
    response_model=Note,
    summary="Add a signed addendum to a signed note (the only way to correct one)",
)
async def add_addendum(note_id: str, body: AddendumDraft, desk: NoteDesk) -> Note:
    chart, doc = await desk.open(note_id, CHART_WRITERS, "create")
    return _note(await desk.add_addendum(chart, doc, body))


@router.get("/notes/{note_id}", response_model=Note, summary="Read a note with its addenda")
async def read_note(
    note_id: str,
    caller: CurrentCaller,
    desk: NoteDesk,
    notes: Notes,
    doses: Doses,
) -> Note:
    chart, doc = await desk.open(note_id, CHART_READERS, "read")
    addenda = await notes.find(caller.tenant_id, {"addendum_of": note_id})
    joined: dict[str, Any] = {"addenda": [a["_id"] for a in addenda]}
    if doc.get("kind") == "dosing":
        found = await doses.find(caller.tenant_id, {"client_id": doc["client_id"]})
        joined["dispensed_doses"] = [
            {k: v for k, v in d.items() if k not in {"tenant_id"}}
            for d in doses_for_note(doc, found)
        ]
        joined["rems_monitoring_form_due"] = monitoring_form_due(
            protocol(doc["dosing"]["protocol_id"]), doc["ended_at"]
        )
    await chart.record("read", RESOURCE, note_id)
    return _note(doc, **joined)


@router.get(
    "/notes/{note_id}/verification",
    response_model=Verification,
    summary="Recompute a signed note's SHA-256 and compare it with the stored one",
)
async def verify_note(note_id: str, desk: NoteDesk) -> Verification:
    chart, doc = await desk.open(note_id, CHART_READERS, "read")
    await chart.record("read", RESOURCE, note_id)
    return Verification(
        note_id=note_id,
        status=doc["status"],
        content_hash=doc.get("content_hash"),
        recomputed_hash=content_hash(doc),
        valid=verify(doc),
    )


@router.get(
    "/clients/{client_id}/notes",
    response_model=PageOut[Note],
    summary="A client's notes and addenda, oldest first",
)
async def list_notes(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    notes: Notes,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Note]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource=RESOURCE)
    result = await notes.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", RESOURCE)
    return PageOut(items=[_note(d) for d in result.items], next_cursor=result.next_cursor)
