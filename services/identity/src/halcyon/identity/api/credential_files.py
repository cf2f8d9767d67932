"""Staff credential files: upload the scanned licence or certificate (the raw body), list a
person's files, download one. The person themself, or an admin of their sites; compliance
officers read. Every access is audited (ADR 0307)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response
from halcyon.identity.api.deps import Chunks, Cipher, Files, Paging, Staff
from halcyon.identity.domain.personnel import CredentialFileKind
from halcyon.identity.usecases import credential_files
from halcyon.shared.access import Access
from halcyon.shared.files import MAX_FILE_BYTES
from halcyon.shared.http.pagination import PageOut
from halcyon.shared.http.uploads import (
    DOWNLOAD_RESPONSES,
    UPLOAD_RESPONSES,
    Disposition,
    file_download,
    read_upload,
)
from halcyon.shared.mongo import Document
from halcyon.shared.text import Name
from pydantic import BaseModel

router = APIRouter(tags=["staff"])


class CredentialFileOut(BaseModel):
    id: str
    staff_id: str
    kind: str
    title: str
    filename: str | None = None
    expires_on: date | None = None
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


def _out(doc: Document) -> CredentialFileOut:
    fields = {k: doc.get(k) for k in CredentialFileOut.model_fields if k != "id"}
    return CredentialFileOut(id=doc["_id"], **fields)


@router.post(
    "/staff/{staff_id}/credential-files",
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_RESPONSES,
    summary="Upload a scanned credential (raw body: PDF, PNG, JPEG or TIFF, ≤ 10 MB)",
)
async def upload(
    staff_id: str, request: Request, access: Access, staff: Staff, records: Files,
    chunks: Chunks, cipher: Cipher, kind: CredentialFileKind,
    title: Annotated[Name, Query()], filename: Annotated[Name | None, Query()] = None,
    expires_on: date | None = None,
) -> CredentialFileOut:  # fmt: skip
    member = await credential_files.open_personnel_file(access, staff, staff_id, write=True)
    data = await read_upload(request, MAX_FILE_BYTES)
    sent = credential_files.CredentialUpload(
        data=data, declared_type=request.headers.get("content-type"),
        content_digest=request.headers.get("content-digest"), kind=kind, title=title,
        filename=filename, expires_on=expires_on,
    )  # fmt: skip
    saved = await credential_files.store(access, member, records, chunks, cipher, sent)
    return _out(saved)


@router.get("/staff/{staff_id}/credential-files", summary="A staff member's credential files")
async def list_credential_files(
    staff_id: str, access: Access, staff: Staff, records: Files, page: Paging
) -> PageOut[CredentialFileOut]:
    member = await credential_files.open_personnel_file(access, staff, staff_id, write=False)
    found = await credential_files.list_files(
        access, member, records, limit=page.limit, cursor=page.cursor
    )
    return PageOut(items=[_out(d) for d in found.items], next_cursor=found.next_cursor)


@router.get(
    "/credential-files/{file_id}/content",
    response_class=Response,
    responses=DOWNLOAD_RESPONSES,
    summary="Download a credential file (audited); disposition=inline to view it",
)  # fmt: skip
async def download_credential_file(
    file_id: str, access: Access, staff: Staff, records: Files, chunks: Chunks, cipher: Cipher,
    disposition: Disposition = "attachment",
) -> Response:  # fmt: skip
    record = await credential_files.load(access, records, file_id)
    await credential_files.open_personnel_file(access, staff, record["staff_id"], write=False)
    data = await credential_files.content(access, record, chunks, cipher)
    filename = record.get("filename") or file_id
    return file_download(data, record["content_type"], filename, record["sha256"], disposition)
