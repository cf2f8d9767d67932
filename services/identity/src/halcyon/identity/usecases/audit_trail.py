"""Reading the access audit log and inventory's ledger anchors: itself an audited access."""

from __future__ import annotations

from halcyon.identity.domain.audit_log import AccessLogFilter
from halcyon.identity.domain.roles import READ_AUDIT
from halcyon.identity.store import AccessAuditLog, LedgerAnchorLog
from halcyon.shared.access import RecordAccess
from halcyon.shared.mongo import Document, Page

ACCESS_AUDIT = "identity/access-audit"
LEDGER_ANCHORS = "identity/ledger-anchors"


async def read_access_log(
    access: RecordAccess,
    log: AccessAuditLog,
    wanted: AccessLogFilter,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of the entries ``wanted`` selects, for a compliance officer."""
    await access.require(READ_AUDIT, None, action="read", resource=ACCESS_AUDIT)
    found = await log.page(access.tenant_id, wanted.query(), limit=limit, cursor=cursor)
    # Reading the trail is itself an access to health information.
    await access.audit.record(
        access.caller,
        action="read",
        resource=ACCESS_AUDIT,
        client_id=wanted.client_id,
        reason=wanted.describe(),
        request=access.request,
    )
    return found


async def read_ledger_anchors(
    access: RecordAccess, anchors: LedgerAnchorLog, registration_id: str
) -> list[Document]:
    """The signed checkpoints of one registration's ledger, oldest first."""
    await access.require(READ_AUDIT, None, action="read", resource=LEDGER_ANCHORS)
    found = await anchors.find(
        access.tenant_id, {"registration_id": registration_id}, sort=(("seq", 1),)
    )
    await access.audit.record(
        access.caller,
        action="read",
        resource=LEDGER_ANCHORS,
        resource_id=registration_id,
        request=access.request,
    )
    return found
