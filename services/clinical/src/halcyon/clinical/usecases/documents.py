"""Documents in a chart: store a file sealed per agency, list them, hand one back; audited."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import ClientRepository, DocumentChunks, DocumentRepository
from halcyon.clinical.usecases.chart import Chart, open_chart
from halcyon.shared import files
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import Conflict, NotFound
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


def _check(upload: Upload) -> tuple[str, str]:
    return files.checked_file(upload.data, upload.declared_type, upload.content_digest)


async def store(
    chart: Chart,
    documents: DocumentRepository,
    chunks: DocumentChunks,
    cipher: FieldCipher,
    upload: Upload,
) -> Document:
    """Check the file, seal and store its chunks, then the record that lists it.

    Hashing and sealing 10 MB is CPU work: it runs in a thread, off the event loop. The
    record is written last, so a failure half-way leaves no listed file (its chunks are
    discarded).
    """
    content_type, sha256 = await asyncio.to_thread(_check, upload)
    document_id = str(uuid7())
    sealed = await asyncio.to_thread(
        files.seal_chunks, cipher, chart.tenant_id, document_id, upload.data
    )
    record: Document = {
        "_id": document_id,
        "client_id": chart.client_id,
        "site_id": chart.site_id,
        "category": upload.category,
        "title": upload.title,
        "filename": upload.filename,
        "content_type": content_type,
        "size_bytes": len(upload.data),
        "sha256": sha256,
        "chunk_count": len(sealed),
        "status": "stored",
        "uploaded_by": chart.caller.user_id,
        "uploaded_at": utcnow(),
    }
    try:
        await chunks.insert_many(chart.tenant_id, sealed)
        saved = await documents.insert(chart.tenant_id, record)
    except BaseException:
        await chunks.discard(chart.tenant_id, document_id)
        raise
    await chart.record("create", RESOURCE, document_id)
    return saved


async def open_document(
    records: DocumentRepository,
    clients: ClientRepository,
    caller: Caller,
    audit: AuditTrail,
    request: Request,
    document_id: str,
    roles: frozenset[str],
) -> tuple[Document, Chart]:
    """The document and its client's chart, if the caller may read it.

    Another agency's document is not found, like a made-up id; both are audited as failed.
    """
    found = await records.get(caller.tenant_id, document_id)
    if found is None or found.get("status") != "stored":
        await audit.record(
            caller, action="read", resource=RESOURCE, resource_id=document_id,
            outcome="failed", reason="no such document in the caller's agency", request=request,
        )  # fmt: skip
        raise NotFound(f"no document {document_id} in your agency")
    chart = await open_chart(
        clients, caller, audit, request, found["client_id"], roles,
        action="read", resource=RESOURCE, resource_id=document_id,
    )  # fmt: skip
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
    stored = await chunks.of_file(chart.tenant_id, record["_id"])
    assembled = await asyncio.to_thread(
        files.open_chunks, cipher, chart.tenant_id, record["_id"], stored,
        int(record["chunk_count"]), record["sha256"],
    )  # fmt: skip
    if not assembled.intact:
        await chart.denied(
            "read", RESOURCE, record["_id"], "stored file failed its integrity check"
        )
        raise Conflict(
            "the stored file does not match what was uploaded (altered or incomplete); "
            "it is not served",
            document_id=record["_id"],
        )
    await chart.record("read", RESOURCE, record["_id"])
    return assembled.data
