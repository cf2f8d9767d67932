"""Staff credential files: the scanned licence, DEA certificate or insurance behind a
personnel file's credentials, kept sealed like a chart's documents (ADR 0307)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from halcyon.identity.domain.roles import MANAGE_AGENCY, READ_STAFF, sites_of
from halcyon.identity.store import CredentialFileChunks, CredentialFileRepository, StaffRepository
from halcyon.identity.usecases.staff_access import open_staff_member, require_at_every_site
from halcyon.shared import files
from halcyon.shared.access import RecordAccess
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import NotFound
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


async def open_personnel_file(
    access: RecordAccess, staff: StaffRepository, staff_id: str, *, write: bool
) -> Document:
    """The staff member, if the caller may see (or add to) their credential files: the
    person themself, or an admin of their sites; compliance officers may read."""
    action = "create" if write else "read"
    member = await open_staff_member(access, staff, staff_id, action=action, resource=RESOURCE)
    if access.caller.user_id == staff_id:
        return member
    await require_at_every_site(
        access, MANAGE_AGENCY if write else READ_STAFF, sites_of(member),
        action=action, resource=RESOURCE, resource_id=staff_id,
    )  # fmt: skip
    return member


async def store(
    access: RecordAccess,
    member: Document,
    records: CredentialFileRepository,
    chunks: CredentialFileChunks,
    cipher: FieldCipher,
    upload: CredentialUpload,
) -> Document:
    caller = access.caller
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
    await access.audit.record(
        caller, action="create", resource=RESOURCE, resource_id=saved["_id"],
        request=access.request,
    )  # fmt: skip
    return saved


async def list_files(
    access: RecordAccess,
    member: Document,
    records: CredentialFileRepository,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    query: dict[str, Any] = {"staff_id": member["_id"], "status": "stored"}
    found = await records.page(access.tenant_id, query, limit=limit, cursor=cursor)
    await access.audit.record(
        access.caller, action="read", resource=f"{RESOURCE}s", resource_id=str(member["_id"]),
        request=access.request,
    )  # fmt: skip
    return found


async def load(access: RecordAccess, records: CredentialFileRepository, file_id: str) -> Document:
    found = await records.get(access.tenant_id, file_id)
    if found is None or found.get("status") != "stored":
        await access.audit.record(
            access.caller, action="read", resource=RESOURCE, resource_id=file_id,
            outcome="failed", reason="no such credential file in the caller's agency",
            request=access.request,
        )  # fmt: skip
        raise NotFound(f"no credential file {file_id} in your agency")
    return found


async def content(
    access: RecordAccess, record: Document, chunks: CredentialFileChunks, cipher: FieldCipher
) -> bytes:
    try:
        data = await files.read_back(chunks, cipher, access.tenant_id, record)
    except files.DamagedFile:
        await access.audit.record(
            access.caller, action="read", resource=RESOURCE, resource_id=record["_id"],
            outcome="denied", reason="stored file failed its integrity check",
            request=access.request,
        )  # fmt: skip
        raise
    await access.audit.record(
        access.caller, action="read", resource=RESOURCE, resource_id=record["_id"],
        request=access.request,
    )  # fmt: skip
    return data
