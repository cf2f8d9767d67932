"""Documents in a client's chart: upload (the file as the raw body), list, download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from halcyon.clinical.api.deps import ChartDoor, Cipher
from halcyon.clinical.domain.documents import Category
from halcyon.clinical.store import DocumentChunks, DocumentRepository
from halcyon.clinical.usecases import documents
from halcyon.clinical.usecases.chart import CHART_READERS, REGISTRARS
from halcyon.shared.files import MAX_FILE_BYTES
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.http.uploads import (
    DOWNLOAD_RESPONSES,
    UPLOAD_RESPONSES,
    Disposition,
    file_download,
    read_upload,
)
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from halcyon.shared.text import Name
from pydantic import BaseModel

router = APIRouter(tags=["documents"])
Documents = Annotated[DocumentRepository, repository(DocumentRepository)]
Chunks = Annotated[DocumentChunks, repository(DocumentChunks)]


class DocumentOut(BaseModel):
    id: str
    client_id: str
    category: str
    title: str
    filename: str | None = None
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


def _out(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc["_id"], **{k: doc.get(k) for k in DocumentOut.model_fields if k != "id"}
    )


@router.post(
    "/clients/{client_id}/documents",
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_RESPONSES,
    summary="Upload a document (the file is the raw body: PDF, PNG, JPEG or TIFF, ≤ 10 MB; "
    "an optional Content-Digest: sha-256=:…: is checked)",
)
async def upload(
    client_id: str, request: Request, charts: ChartDoor,
    records: Documents, chunks: Chunks, cipher: Cipher, category: Category,
    title: Annotated[Name, Query()],
    filename: Annotated[Name | None, Query()] = None,
) -> DocumentOut:  # fmt: skip
    chart = await charts.open(client_id, REGISTRARS, action="create", resource=documents.RESOURCE)
    data = await read_upload(request, MAX_FILE_BYTES)
    sent = documents.Upload(
        data=data, declared_type=request.headers.get("content-type"),
        content_digest=request.headers.get("content-digest"),
        category=category, title=title, filename=filename,
    )  # fmt: skip
    return _out(await documents.store(chart, records, chunks, cipher, sent))


@router.get("/clients/{client_id}/documents", summary="A client's documents (newest last)")
async def list_documents(
    client_id: str, charts: ChartDoor,
    records: Documents, page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[DocumentOut]:  # fmt: skip
    chart = await charts.open(
        client_id, CHART_READERS, action="read", resource=f"{documents.RESOURCE}s"
    )
    found = await documents.list_for_client(chart, records, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_out(d) for d in found.items], next_cursor=found.next_cursor)


@router.get("/documents/{document_id}", summary="What is known of one document")
async def read_document(
    document_id: str, charts: ChartDoor, records: Documents,
) -> DocumentOut:  # fmt: skip
    record, chart = await documents.open_document(records, charts, document_id, CHART_READERS)
    await chart.record("read", documents.RESOURCE, document_id)
    return _out(record)


@router.get(
    "/documents/{document_id}/content",
    response_class=Response,
    responses=DOWNLOAD_RESPONSES,
    summary="Download the file (audited); disposition=inline for a preview",
)  # fmt: skip
async def download(
    document_id: str, charts: ChartDoor, records: Documents, chunks: Chunks, cipher: Cipher,
    disposition: Disposition = "attachment",
) -> Response:  # fmt: skip
    record, chart = await documents.open_document(records, charts, document_id, CHART_READERS)
    data = await documents.content(chart, record, chunks, cipher)
    filename = record.get("filename") or document_id
    return file_download(data, record["content_type"], filename, record["sha256"], disposition)
