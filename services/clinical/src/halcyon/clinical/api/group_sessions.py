"""Group sessions: one note, a shared section and a section per member (ADR 0306)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from halcyon.clinical.api.deps import Steps
from halcyon.clinical.domain.group_sessions import GroupNoteDraft
from halcyon.shared.mongo import Document
from pydantic import BaseModel

router = APIRouter(tags=["group sessions"])


class GroupNote(BaseModel):
    """The whole group note: only for callers allowed into every member's chart."""

    id: str
    site_id: str
    name: str | None = None
    status: str
    author_id: str
    started_at: datetime
    ended_at: datetime
    place_of_service: str
    telehealth: bool
    clinicians: list[dict[str, Any]]
    shared_section: str
    members: list[dict[str, Any]]
    signed_by: str | None = None
    signed_at: datetime | None = None
    content_hash: str | None = None


class MemberGroupNote(BaseModel):
    """A group note as one member's chart shows it: the others are only a count."""

    id: str
    client_id: str
    site_id: str
    name: str | None = None
    status: str
    author_id: str
    started_at: datetime
    ended_at: datetime
    clinicians: list[dict[str, Any]]
    shared_section: str
    attendance: str
    section: str
    diagnoses: list[str]
    encounter_id: str | None = None
    other_members: int
    signed_by: str | None = None
    signed_at: datetime | None = None


def _full(doc: Document) -> GroupNote:
    fields = {k: v for k, v in doc.items() if k in GroupNote.model_fields and k != "id"}
    return GroupNote(id=doc["_id"], **fields)


@router.post(
    "/group-sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupNote,
    summary="Record a group session and start its note (draft)",
)
async def create_group_session(body: GroupNoteDraft, group: Steps) -> GroupNote:
    return _full(await group.create(body))


@router.put("/group-sessions/{session_id}", response_model=GroupNote, summary="Replace a draft")
async def edit_group_session(session_id: str, body: GroupNoteDraft, group: Steps) -> GroupNote:
    return _full(await group.edit(session_id, body))


@router.post(
    "/group-sessions/{session_id}/sign",
    response_model=GroupNote,
    summary="Sign and lock the group note; each member present is billed 90853",
)
async def sign_group_session(session_id: str, group: Steps) -> GroupNote:
    return _full(await group.sign(session_id))


@router.get("/group-sessions/{session_id}", response_model=GroupNote, summary="The whole note")
async def read_group_session(session_id: str, group: Steps) -> GroupNote:
    return _full(await group.read_full(session_id))


@router.get(
    "/clients/{client_id}/group-notes",
    response_model=list[MemberGroupNote],
    summary="A client's group notes: the shared section and their own section only",
)
async def list_client_group_notes(client_id: str, group: Steps) -> list[MemberGroupNote]:
    return [MemberGroupNote(**v) for v in await group.list_for_client(client_id)]


@router.get(
    "/clients/{client_id}/group-notes/{session_id}",
    response_model=MemberGroupNote,
    summary="One group note as this client's chart shows it",
)
async def read_client_group_note(client_id: str, session_id: str, group: Steps) -> MemberGroupNote:
    return MemberGroupNote(**await group.read_for_client(client_id, session_id))
