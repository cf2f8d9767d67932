"""Documents in a chart: store a file sealed per agency, list them, hand one back; audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import DocumentChunks, DocumentRepository
from halcyon.clinical.usecases.chart import Chart, Charts
from halcyon.shared import files
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import NotFound
from halcyon.shared.mongo import Document, Page
from uuid6 import uuid7

RESOURCE = "clinical/document"


@dataclass(frozen=True)
class Upload:
    data: bytes
    declared_type: str | None
    content_digest: str | None
    category: str
    title: str
    filename: str | None


async def store(
    chart: Chart,
    documents: DocumentRepository,
    chunks: DocumentChunks,
    cipher: FieldCipher,
    upload: Upload,
) -> Document:
    """Check the file, keep it sealed in chunks, then list it on the chart; audited."""
    record: Document = {
        "_id": str(uuid7()),
        "client_id": chart.client_id,
        "site_id": chart.site_id,
        "category": upload.category,
        "title": upload.title,
        "filename": upload.filename,
        "uploaded_by": chart.caller.user_id,
        "uploaded_at": utcnow(),
    }
    saved = await files.keep_file(
        documents, chunks, cipher, chart.tenant_id, record, upload.data,
        upload.declared_type, upload.content_digest,
    )  # fmt: skip
    await chart.record("create", RESOURCE, saved["_id"])
    return saved


async def open_document(
    records: DocumentRepository, charts: Charts, document_id: str, roles: frozenset[str]
) -> tuple[Document, Chart]:
    """The document and its client's chart, if the caller may read it.

    Another agency's document is not found, like a made-up id; both are audited as failed.
    """
    access = charts.access
    found = await records.get(access.tenant_id, document_id)
    if found is None or found.get("status") != "stored":
        await access.audit.record(
            access.caller, action="read", resource=RESOURCE, resource_id=document_id,
            outcome="failed", reason="no such document in the caller's agency",
            request=access.request,
        )  # fmt: skip
        raise NotFound(f"no document {document_id} in your agency")
    chart = await charts.open(
        found["client_id"], roles, action="read", resource=RESOURCE, resource_id=document_id
    )
    return found, chart


async def list_for_client(
    chart: Chart, documents: DocumentRepository, *, limit: int, cursor: str | None
) -> Page:
    query: dict[str, Any] = {"client_id": chart.client_id, "status": "stored"}
    found = await documents.page(chart.tenant_id, query, limit=limit, cursor=cursor)
    await chart.record("read", f"{RESOURCE}s")
    return found


async def content(
    chart: Chart, record: Document, chunks: DocumentChunks, cipher: FieldCipher
) -> bytes:
    """The file's bytes, opened and checked against the digest taken at upload."""
    try:
        data = await files.read_back(chunks, cipher, chart.tenant_id, record)
    except files.DamagedFile:
        reason = "stored file failed its integrity check"
        await chart.denied("read", RESOURCE, record["_id"], reason)
        raise
    await chart.record("read", RESOURCE, record["_id"])
    return data
