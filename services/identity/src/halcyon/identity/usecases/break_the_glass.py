"""Break-the-glass (ADR 0102): a clinician's emergency access to one client's record,
with a reason, time-limited, audited and reviewed by a compliance officer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from halcyon.identity.domain.roles import BREAK_THE_GLASS, READ_AUDIT
from halcyon.identity.domain.sign_in import access_claims
from halcyon.identity.runtime import IdentityRuntime
from halcyon.identity.store import BreakTheGlassRepository, ClientDirectory
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import Conflict, Forbidden, RuleViolation
from halcyon.shared.mongo import Document
from halcyon.shared.references import resolve
from uuid6 import uuid7

RESOURCE = "identity/break-the-glass"


@dataclass(frozen=True)
class EmergencyAccess:
    grant_id: str
    access_token: str
    expires_in: int
    expires_at: datetime


async def break_the_glass(
    runtime: IdentityRuntime, access: RecordAccess, client_id: str, reason: str
) -> EmergencyAccess:
    """Record the grant (audited) and sign a token that also opens ``client_id``'s record."""
    caller = access.caller
    if caller.is_service or caller.emergency_clients:
        raise Forbidden("break-the-glass is for a signed-in clinician, one grant at a time")
    # A refusal is audited (denied) without the client: no grant was made, so no access to
    # that client's record happened, and the client's trail shows only grants and reads.
    await access.require(BREAK_THE_GLASS, None, action="break_the_glass", resource=RESOURCE)
    # Another agency's client and a made-up id alike: 422, no grant, no token (ADR 0011).
    await resolve(runtime.repo(ClientDirectory), caller, client_id, "client", field="client_id")
    settings = runtime.settings
    now = runtime.parts.clock()
    ttl = timedelta(seconds=settings.break_the_glass_ttl_seconds)
    grant_id = str(uuid7())
    name = caller.extra.get("name")
    await runtime.repo(BreakTheGlassRepository).insert(
        caller.tenant_id,
        {
            "_id": grant_id,
            "user_id": caller.user_id,
            "user_name": name,
            "client_id": client_id,
            "reason": reason,
            "granted_at": now,
            "expires_at": now + ttl,
            "reviewed": False,
            "source_token_id": caller.token_id,
        },
    )
    await access.audit.record(
        caller,
        action="break_the_glass",
        resource=RESOURCE,
        resource_id=grant_id,
        client_id=client_id,
        reason=reason,
        request=access.request,
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
        break_the_glass=[client_id],
        break_the_glass_reason=reason,
        # Same session and same way of signing in: ending the session ends this token too.
        session_id=caller.session_id,
        auth_time=caller.auth_time,
    )
    return EmergencyAccess(
        grant_id=grant_id,
        access_token=await runtime.parts.keys.sign(claims),
        expires_in=int(ttl.total_seconds()),
        expires_at=now + ttl,
    )


async def review_grant(
    access: RecordAccess,
    grants: BreakTheGlassRepository,
    grant_id: str,
    note: str,
    now: datetime,
) -> Document:
    """A compliance officer's finding on someone else's emergency access, recorded once."""
    await access.require(READ_AUDIT, None, action="review", resource=RESOURCE, resource_id=grant_id)
    grant = await access.open(
        grants, grant_id, READ_AUDIT, action="review", resource=RESOURCE,
        what="break-the-glass grant", site_of=lambda _: None,
    )  # fmt: skip
    if grant["user_id"] == access.caller.user_id:
        raise RuleViolation("nobody reviews their own emergency access")
    doc = await grants.update(
        access.tenant_id,
        {"_id": grant_id, "reviewed": False},
        {
            "$set": {
                "reviewed": True,
                "reviewed_by": access.caller.user_id,
                "reviewed_at": now,
                "review_note": note,
            }
        },
    )
    if doc is None:
        raise Conflict("this grant was already reviewed")
    return doc
