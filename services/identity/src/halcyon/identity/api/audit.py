"""The access audit log (append-only) and break-the-glass grants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from halcyon.identity.api.common import AppendOnly, ClockDep, Keys, Settings
from halcyon.identity.domain.roles import BREAK_THE_GLASS, READ_AUDIT
from halcyon.identity.domain.sign_in import access_claims
from halcyon.identity.store import (
    AccessAuditLog,
    BreakTheGlassRepository,
    ClientDirectory,
    LedgerAnchorLog,
)
from halcyon.shared.errors import Conflict, Forbidden, NotFound, RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.references import resolve
from halcyon.shared.service import Audit, repository
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints
from uuid6 import uuid7

# Reading the audit trail and breaking the glass both need a second factor (ADR 0103).
router = APIRouter(dependencies=[SecondFactor])
# Changing the log is refused for everyone the same way (405), second factor or not.
append_only = APIRouter()
AuditLog = Annotated[AccessAuditLog, repository(AccessAuditLog)]
Grants = Annotated[BreakTheGlassRepository, repository(BreakTheGlassRepository)]
Clients = Annotated[ClientDirectory, repository(ClientDirectory)]
Paging = Annotated[PageParams, Depends(page_params)]
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
    request: Request,
    caller: CurrentCaller,
    log: AuditLog,
    audit: Audit,
    page: Paging,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    break_the_glass: bool | None = None,
) -> PageOut[AuditEntry]:
    try:
        caller.require(READ_AUDIT)
    except Forbidden:
        await audit.record(
            caller,
            action="read",
            resource="identity/access-audit",
            outcome="denied",
            request=request,
        )
        raise
    query: dict[str, Any] = {}
    if client_id:
        query["client_id"] = client_id
    if user_id:
        query["user_id"] = user_id
    if break_the_glass is not None:
        query["break_the_glass"] = break_the_glass
    window: dict[str, Any] = {}
    if from_:
        window["$gte"] = from_
    if to:
        window["$lt"] = to
    if window:
        query["at"] = window
    result = await log.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    # Reading the trail is itself an access to health information.
    await audit.record(
        caller,
        action="read",
        resource="identity/access-audit",
        client_id=client_id,
        reason=f"query user={user_id or '*'} client={client_id or '*'}",
        request=request,
    )
    return PageOut(items=[_entry(d) for d in result.items], next_cursor=result.next_cursor)


def _refuse_change() -> None:
    # HIPAA 45 CFR 164.316(b)(2): documentation kept 6 years; our log is never edited.
    raise AppendOnly(
        "the access audit log is append-only and kept at least 6 years; entries are never "
        "changed or deleted"
    )


# Always the answer of the refusing routes: declared, so the OpenAPI tells the truth.
APPEND_ONLY: dict[int | str, dict[str, Any]] = {405: {"description": "The log is append-only"}}


@append_only.delete(
    "/audit/access",
    tags=["audit"],
    summary="Refused: the log is append-only",
    responses=APPEND_ONLY,
)
async def delete_log(caller: CurrentCaller) -> None:
    _refuse_change()


@append_only.delete(
    "/audit/access/{audit_id}",
    tags=["audit"],
    summary="Refused: append-only",
    responses=APPEND_ONLY,
)
async def delete_entry(audit_id: str, caller: CurrentCaller) -> None:
    _refuse_change()


@append_only.put(
    "/audit/access/{audit_id}",
    tags=["audit"],
    summary="Refused: append-only",
    responses=APPEND_ONLY,
)
async def replace_entry(audit_id: str, caller: CurrentCaller) -> None:
    _refuse_change()


@append_only.patch(
    "/audit/access/{audit_id}",
    tags=["audit"],
    summary="Refused: append-only",
    responses=APPEND_ONLY,
)
async def change_entry(audit_id: str, caller: CurrentCaller) -> None:
    _refuse_change()


# -- anchors of inventory's ledger chains (ADR 0503) ------------------------------------------
Anchors = Annotated[LedgerAnchorLog, repository(LedgerAnchorLog)]
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
    request: Request,
    caller: CurrentCaller,
    anchors: Anchors,
    audit: Audit,
    registration_id: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[dict[str, Any]]:
    """The checkpoints as inventory signed them: an auditor hands them to inventory's
    ``POST /registrations/{id}/ledger/verify`` (or checks them with the public key)."""
    try:
        caller.require(READ_AUDIT)
    except Forbidden:
        await audit.record(
            caller,
            action="read",
            resource="identity/ledger-anchors",
            outcome="denied",
            request=request,
        )
        raise
    found = await anchors.find(
        caller.tenant_id, {"registration_id": registration_id}, sort=(("seq", 1),)
    )
    await audit.record(
        caller,
        action="read",
        resource="identity/ledger-anchors",
        resource_id=registration_id,
        request=request,
    )
    return [{k: d.get(k) for k in CHECKPOINT_FIELDS} for d in found]


# -- break-the-glass --------------------------------------------------------------------------
class BreakTheGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Id
    reason: Reason


class BreakTheGlassOut(BaseModel):
    grant_id: str
    access_token: str
    token_type: str = "Bearer"
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
    body: BreakTheGlassIn,
    request: Request,
    caller: CurrentCaller,
    grants: Grants,
    clients: Clients,
    keys: Keys,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
) -> BreakTheGlassOut:
    if caller.is_service or caller.emergency_clients:
        raise Forbidden("break-the-glass is for a signed-in clinician, one grant at a time")
    caller.require(BREAK_THE_GLASS)
    # Another agency's client and a made-up id alike: 422, no grant, no token (ADR 0011).
    await resolve(clients, caller, body.client_id, "client", field="client_id")
    now = clock()
    ttl = timedelta(seconds=settings.break_the_glass_ttl_seconds)
    grant_id = str(uuid7())
    name = caller.extra.get("name")
    await grants.insert(
        caller.tenant_id,
        {
            "_id": grant_id,
            "user_id": caller.user_id,
            "user_name": name,
            "client_id": body.client_id,
            "reason": body.reason,
            "granted_at": now,
            "expires_at": now + ttl,
            "reviewed": False,
            "source_token_id": caller.token_id,
        },
    )
    await audit.record(
        caller,
        action="break_the_glass",
        resource="identity/break-the-glass",
        resource_id=grant_id,
        client_id=body.client_id,
        reason=body.reason,
        request=request,
    )
    claims = access_claims(
        subject=caller.user_id,
        tenant_id=caller.tenant_id,
        roles=[{"site": g.site_id, "role": g.role} for g in caller.grants],
        name=name,
        mfa=caller.has_second_factor,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        now=now,
        ttl=ttl,
        break_the_glass=[body.client_id],
        break_the_glass_reason=body.reason,
        # Same session and same way of signing in: ending the session ends this token too.
        session_id=caller.session_id,
        auth_time=caller.auth_time,
    )
    return BreakTheGlassOut(
        grant_id=grant_id,
        access_token=await keys.sign(claims),
        expires_in=int(ttl.total_seconds()),
        expires_at=now + ttl,
    )


@router.get(
    "/break-the-glass",
    response_model=PageOut[Grant],
    tags=["break-the-glass"],
    summary="Break-the-glass grants to review (compliance officers)",
)
async def list_grants(
    caller: CurrentCaller, grants: Grants, page: Paging, reviewed: bool | None = None
) -> PageOut[Grant]:
    caller.require(READ_AUDIT)
    query = {} if reviewed is None else {"reviewed": reviewed}
    result = await grants.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_grant(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/break-the-glass/{grant_id}/review",
    response_model=Grant,
    tags=["break-the-glass"],
    summary="Mark a grant reviewed, with the compliance officer's finding",
)
async def review_grant(
    grant_id: str, body: ReviewIn, caller: CurrentCaller, grants: Grants, clock: ClockDep
) -> Grant:
    caller.require(READ_AUDIT)
    current = await grants.get(caller.tenant_id, grant_id)
    if current is None:
        raise NotFound(f"no break-the-glass grant {grant_id} in your agency")
    if current["user_id"] == caller.user_id:
        raise RuleViolation("nobody reviews their own emergency access")
    doc = await grants.update(
        caller.tenant_id,
        {"_id": grant_id, "reviewed": False},
        {
            "$set": {
                "reviewed": True,
                "reviewed_by": caller.user_id,
                "reviewed_at": clock(),
                "review_note": body.note,
            }
        },
    )
    if doc is None:
        raise Conflict("this grant was already reviewed")
    return _grant(doc)
