"""Documents in a client's chart: upload (the file as the raw body), list, download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from halcyon.clinical.api.clients import Cipher
from halcyon.clinical.domain.documents import MAX_DOCUMENT_BYTES, Category
from halcyon.clinical.store import DocumentChunks, DocumentRepository
from halcyon.clinical.usecases import documents
from halcyon.clinical.usecases.chart import CHART_READERS, REGISTRARS, Clients, open_chart
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.http.uploads import read_upload
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit, repository
from halcyon.shared.text import Name
from pydantic import BaseModel

router = APIRouter(tags=["documents"])
Documents = Annotated[DocumentRepository, repository(DocumentRepository)]
Chunks = Annotated[DocumentChunks, repository(DocumentChunks)]
# For callers inside the cluster: a download is sandboxed outright; a preview cannot be
# (browsers' PDF viewers refuse sandboxed documents). What keeps a served file from ever
# running is that only sniffed PDFs and images are stored, served with nosniff. Through
# the public gateway its own policy replaces these (default-src 'none' for API answers,
# the console's for console pages).
SAVE_POLICY = "default-src 'none'; sandbox; frame-ancestors 'none'"
PREVIEW_POLICY = "default-src 'none'; frame-ancestors 'self'"
UNSUPPORTED: dict[int | str, dict[str, Any]] = {
    415: {"description": "The file is not a PDF, PNG, JPEG or TIFF"}
}


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
    responses=UNSUPPORTED,
    summary="Upload a document (the file is the raw body: PDF, PNG, JPEG or TIFF, ≤ 10 MB; "
    "an optional Content-Digest: sha-256=:…: is checked)",
)
async def upload(
    client_id: str, request: Request, caller: CurrentCaller, clients: Clients, audit: Audit,
    records: Documents, chunks: Chunks, cipher: Cipher, category: Category,
    title: Annotated[Name, Query()],
    filename: Annotated[Name | None, Query()] = None,
) -> DocumentOut:  # fmt: skip
    chart = await open_chart(
        clients, caller, audit, request, client_id, REGISTRARS,
        action="create", resource=documents.RESOURCE,
    )  # fmt: skip
    data = await read_upload(request, MAX_DOCUMENT_BYTES)
    sent = documents.Upload(
        data=data, declared_type=request.headers.get("content-type"),
        content_digest=request.headers.get("content-digest"),
        category=category, title=title, filename=filename,
    )  # fmt: skip
    return _out(await documents.store(chart, records, chunks, cipher, sent))


@router.get("/clients/{client_id}/documents", summary="A client's documents (newest last)")
async def list_documents(
    client_id: str, request: Request, caller: CurrentCaller, clients: Clients, audit: Audit,
    records: Documents, page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[DocumentOut]:  # fmt: skip
    chart = await open_chart(
        clients, caller, audit, request, client_id, CHART_READERS,
        action="read", resource=f"{documents.RESOURCE}s",
    )  # fmt: skip
    found = await documents.list_for_client(chart, records, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_out(d) for d in found.items], next_cursor=found.next_cursor)


@router.get("/documents/{document_id}", summary="What is known of one document")
async def read_document(
    document_id: str, request: Request, caller: CurrentCaller, clients: Clients, audit: Audit,
    records: Documents,
) -> DocumentOut:  # fmt: skip
    record, chart = await documents.open_document(
        records, clients, caller, audit, request, document_id, CHART_READERS
    )
    await chart.record("read", documents.RESOURCE, document_id)
    return _out(record)


@router.get(
    "/documents/{document_id}/content",
    response_class=Response,
    responses={200: {"content": {t: {} for t in ("application/pdf", "image/png", "image/jpeg",
                                                  "image/tiff")}},
               409: {"description": "The stored file failed its integrity check"}},
    summary="Download the file (audited); disposition=inline for a preview",
)  # fmt: skip
async def download(
    document_id: str, request: Request, caller: CurrentCaller, clients: Clients, audit: Audit,
    records: Documents, chunks: Chunks, cipher: Cipher,
    disposition: Literal["attachment", "inline"] = "attachment",
) -> Response:  # fmt: skip
    record, chart = await documents.open_document(
        records, clients, caller, audit, request, document_id, CHART_READERS
    )
    data = await documents.content(chart, record, chunks, cipher)
    name = quote(record.get("filename") or f"{document_id}", safe="")
    return Response(
        content=data,
        media_type=record["content_type"],
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": PREVIEW_POLICY if disposition == "inline" else SAVE_POLICY,
            "Cache-Control": "no-store",
            "ETag": documents.etag(record),
        },
    )
