"""Staff credential files: the scanned licence, DEA certificate or insurance behind a
personnel file's credentials, kept sealed like a chart's documents (ADR 0307)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request
from halcyon.identity.domain.roles import MANAGE_AGENCY, READ_STAFF
from halcyon.identity.store import CredentialFileChunks, CredentialFileRepository, StaffRepository
from halcyon.identity.usecases.staff_access import require_at_every_site
from halcyon.shared import files
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import DomainError, NotFound
from halcyon.shared.mongo import Document, Page
from uuid6 import uuid7

RESOURCE = "identity/credential-file"


@dataclass(frozen=True)
class CredentialUpload:
    data: bytes
    declared_type: str | None
    content_digest: str | None
    kind: str
    title: str
    filename: str | None
    expires_on: date | None


def _sites_of(member: Document) -> set[str]:
    return {str(r["site"]) for r in member.get("roles", [])}


async def open_personnel_file(
    staff: StaffRepository,
    caller: Caller,
    audit: AuditTrail,
    request: Request,
    staff_id: str,
    *,
    write: bool,
) -> Document:
    """The staff member, if the caller may see (or add to) their credential files: the
    person themself, or an admin of their sites; compliance officers may read."""
    action = "create" if write else "read"
    member = await staff.get(caller.tenant_id, staff_id)
    if member is None:
        await audit.record(
            caller, action=action, resource=RESOURCE, resource_id=staff_id, outcome="failed",
            reason="no such staff member in the caller's agency", request=request,
        )  # fmt: skip
        raise NotFound(f"no staff member {staff_id} in your agency")
    if caller.user_id == staff_id:
        return member
    try:
        require_at_every_site(caller, MANAGE_AGENCY if write else READ_STAFF, _sites_of(member))
    except DomainError as exc:
        await audit.record(
            caller, action=action, resource=RESOURCE, resource_id=staff_id, outcome="denied",
            reason=exc.detail, request=request,
        )  # fmt: skip
        raise
    return member


async def store(
    caller: Caller,
    member: Document,
    records: CredentialFileRepository,
    chunks: CredentialFileChunks,
    cipher: FieldCipher,
    audit: AuditTrail,
    request: Request,
    upload: CredentialUpload,
) -> Document:
    record: Document = {
        "_id": str(uuid7()),
        "staff_id": member["_id"],
        "kind": upload.kind,
        "title": upload.title,
        "filename": upload.filename,
        "expires_on": upload.expires_on.isoformat() if upload.expires_on else None,
        "uploaded_by": caller.user_id,
        "uploaded_at": datetime.now(UTC),
    }
    saved = await files.keep_file(
        records, chunks, cipher, caller.tenant_id, record, upload.data, upload.declared_type,
        upload.content_digest,
    )  # fmt: skip
    await audit.record(
        caller, action="create", resource=RESOURCE, resource_id=saved["_id"], request=request
    )
    return saved


async def list_files(
    caller: Caller,
    member: Document,
    records: CredentialFileRepository,
    audit: AuditTrail,
    request: Request,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    query: dict[str, Any] = {"staff_id": member["_id"], "status": "stored"}
    found = await records.page(caller.tenant_id, query, limit=limit, cursor=cursor)
    await audit.record(
        caller, action="read", resource=f"{RESOURCE}s", resource_id=str(member["_id"]),
        request=request,
    )  # fmt: skip
    return found


async def load(
    records: CredentialFileRepository,
    caller: Caller,
    audit: AuditTrail,
    request: Request,
    file_id: str,
) -> Document:
    found = await records.get(caller.tenant_id, file_id)
    if found is None or found.get("status") != "stored":
        await audit.record(
            caller, action="read", resource=RESOURCE, resource_id=file_id, outcome="failed",
            reason="no such credential file in the caller's agency", request=request,
        )  # fmt: skip
        raise NotFound(f"no credential file {file_id} in your agency")
    return found


async def content(
    caller: Caller,
    record: Document,
    chunks: CredentialFileChunks,
    cipher: FieldCipher,
    audit: AuditTrail,
    request: Request,
) -> bytes:
    try:
        data = await files.read_back(chunks, cipher, caller.tenant_id, record)
    except files.DamagedFile:
        await audit.record(
            caller, action="read", resource=RESOURCE, resource_id=record["_id"],
            outcome="denied", reason="stored file failed its integrity check", request=request,
        )  # fmt: skip
        raise
    await audit.record(
        caller, action="read", resource=RESOURCE, resource_id=record["_id"], request=request
    )
    return data
