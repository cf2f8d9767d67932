"""The access audit log (append-only) and break-the-glass grants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from halcyon.identity.api.common import AppendOnly
from halcyon.identity.api.deps import Anchors, AuditLog, ClockDep, Grants, Paging, Runtime
from halcyon.identity.domain.audit_log import AccessLogFilter
from halcyon.identity.domain.roles import READ_AUDIT
from halcyon.identity.usecases import audit_trail
from halcyon.identity.usecases import break_the_glass as emergency
from halcyon.shared.access import Access
from halcyon.shared.http.deps import SecondFactor, current_caller
from halcyon.shared.http.pagination import PageOut
from halcyon.shared.mongo import Document
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

# Reading the audit trail and breaking the glass both need a second factor (ADR 0103).
router = APIRouter(dependencies=[SecondFactor])
# Changing the log is refused for everyone the same way (405), second factor or not.
append_only = APIRouter(dependencies=[Depends(current_caller)])
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# A reason someone else can judge later: "emergency" alone does not say why.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)]


class AuditEntry(BaseModel):
    audit_id: str
    at: datetime
    service: str
    user_id: str
    roles: list[str] = []
    site_id: str | None = None
    client_id: str | None = None
    action: str
    resource: str
    resource_id: str | None = None
    outcome: str
    reason: str | None = None
    break_the_glass: bool = False
    # For emergency access: the grant that allowed it and its stated reason.
    grant_id: str | None = None
    break_the_glass_reason: str | None = None
    request_id: str | None = None
    source_address: str | None = None


def _entry(doc: Document) -> AuditEntry:
    return AuditEntry(**{k: v for k, v in doc.items() if k in AuditEntry.model_fields})


@router.get(
    "/audit/access",
    response_model=PageOut[AuditEntry],
    tags=["audit"],
    summary="Who accessed what: by client, user and time range (compliance officers)",
)
async def query_access_log(
    access: Access,
    log: AuditLog,
    page: Paging,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    break_the_glass: bool | None = None,
) -> PageOut[AuditEntry]:
    wanted = AccessLogFilter(client_id, user_id, from_, to, break_the_glass)
    result = await audit_trail.read_access_log(
        access, log, wanted, limit=page.limit, cursor=page.cursor
    )
    return PageOut(items=[_entry(d) for d in result.items], next_cursor=result.next_cursor)


def _refuse_change() -> None:
    # HIPAA 45 CFR 164.316(b)(2): documentation kept 6 years; our log is never edited.
    raise AppendOnly(
        "the access audit log is append-only and kept at least 6 years; entries are never "
        "changed or deleted"
    )


def _entry_id(audit_id: str) -> str:
    """The entry named in the path (declared, so the OpenAPI tells the truth)."""
    return audit_id


# Always the answer of the refusing routes: declared, so the OpenAPI tells the truth.
APPEND_ONLY: dict[int | str, dict[str, Any]] = {405: {"description": "The log is append-only"}}
AN_ENTRY = [Depends(_entry_id)]


@append_only.delete(
    "/audit/access",
    tags=["audit"],
    summary="Refused: the log is append-only",
    responses=APPEND_ONLY,
)
async def delete_log() -> None:
    _refuse_change()


@append_only.delete(
    "/audit/access/{audit_id}",
    tags=["audit"],
    summary="Refused: append-only",
    responses=APPEND_ONLY,
    dependencies=AN_ENTRY,
)
async def delete_entry() -> None:
    _refuse_change()


@append_only.put(
    "/audit/access/{audit_id}",
    tags=["audit"],
    summary="Refused: append-only",
    responses=APPEND_ONLY,
    dependencies=AN_ENTRY,
)
async def replace_entry() -> None:
    _refuse_change()


@append_only.patch(
    "/audit/access/{audit_id}",
    tags=["audit"],
    summary="Refused: append-only",
    responses=APPEND_ONLY,
    dependencies=AN_ENTRY,
)
async def change_entry() -> None:
    _refuse_change()


# -- anchors of inventory's ledger chains (ADR 0503) ------------------------------------------
CHECKPOINT_FIELDS = (
    "format",
    "anchor_id",
    "tenant_id",
    "registration_id",
    "dea_number",
    "seq",
    "entry_id",
    "head_hash",
    "anchored_at",
    "key_id",
    "signature",
    "public_key",
)


@router.get(
    "/audit/ledger-anchors",
    tags=["audit"],
    summary="Signed checkpoints of a controlled-substance ledger, kept outside inventory",
)
async def ledger_anchors(
    access: Access,
    anchors: Anchors,
    registration_id: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[dict[str, Any]]:
    """The checkpoints as inventory signed them: an auditor hands them to inventory's
    ``POST /registrations/{id}/ledger/verify`` (or checks them with the public key)."""
    found = await audit_trail.read_ledger_anchors(access, anchors, registration_id)
    return [{k: d.get(k) for k in CHECKPOINT_FIELDS} for d in found]


# -- break-the-glass --------------------------------------------------------------------------
class BreakTheGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Id
    reason: Reason


class BreakTheGlassOut(BaseModel):
    grant_id: str
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int
    expires_at: datetime


class Grant(BaseModel):
    id: str
    user_id: str
    user_name: str | None = None
    client_id: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    reviewed: bool
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_note: str | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


def _grant(doc: Document) -> Grant:
    return Grant(id=doc["_id"], **{k: v for k, v in doc.items() if k in Grant.model_fields})


@router.post(
    "/break-the-glass",
    status_code=status.HTTP_201_CREATED,
    response_model=BreakTheGlassOut,
    tags=["break-the-glass"],
    summary="Emergency access to one client's record: reason required, time-limited, reviewed",
)
async def break_the_glass(
    body: BreakTheGlassIn, access: Access, runtime: Runtime
) -> BreakTheGlassOut:
    granted = await emergency.break_the_glass(runtime, access, body.client_id, body.reason)
    return BreakTheGlassOut(
        grant_id=granted.grant_id,
        access_token=granted.access_token,
        expires_in=granted.expires_in,
        expires_at=granted.expires_at,
    )


@router.get(
    "/break-the-glass",
    response_model=PageOut[Grant],
    tags=["break-the-glass"],
    summary="Break-the-glass grants to review (compliance officers)",
)
async def list_grants(
    access: Access, grants: Grants, page: Paging, reviewed: bool | None = None
) -> PageOut[Grant]:
    await access.require(READ_AUDIT, None, action="read", resource=emergency.RESOURCE)
    query = {} if reviewed is None else {"reviewed": reviewed}
    result = await grants.page(access.tenant_id, query, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_grant(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/break-the-glass/{grant_id}/review",
    response_model=Grant,
    tags=["break-the-glass"],
    summary="Mark a grant reviewed, with the compliance officer's finding",
)
async def review_grant(
    grant_id: str, body: ReviewIn, access: Access, grants: Grants, clock: ClockDep
) -> Grant:
    return _grant(await emergency.review_grant(access, grants, grant_id, body.note, clock()))
