"""Ending sign-in sessions at once: refresh families revoked, access tokens revoked everywhere.

A session is a refresh family; its access tokens carry the family id as ``sid``. Ending
sessions revokes the families here and records an ``AccessRevoked`` event in the same
single-document write as the revocation record (outbox), which every service and the
gateway read into their revocation lists (ADR 0104).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from halcyon.identity.settings import IdentitySettings
from halcyon.identity.store import RefreshTokenRepository, RevocationRepository
from halcyon.shared.contracts.identity import AccessRevoked
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import OutboxEvent
from uuid6 import uuid7


def longest_access_lifetime(settings: IdentitySettings) -> timedelta:
    """No access token of a session outlives this (break-the-glass ones live longest)."""
    return timedelta(
        seconds=max(settings.access_token_ttl_seconds, settings.break_the_glass_ttl_seconds)
    )


async def end_sessions(
    tenant_id: str,
    user_id: str,
    reason: str,
    *,
    refresh_tokens: RefreshTokenRepository,
    revocations: RevocationRepository,
    settings: IdentitySettings,
    now: datetime,
    family_id: str | None = None,
) -> list[str]:
    """End one session (``family_id``) or every session of the person; return their ids."""
    lifetime = longest_access_lifetime(settings)
    if family_id is not None:
        sessions = [family_id]
    else:
        # Only families used within one token lifetime can still have live access tokens.
        sessions = await refresh_tokens.recent_families(tenant_id, user_id, now - lifetime)
    query = {"family_id": family_id} if family_id else {"user_id": user_id}
    await refresh_tokens.revoke_where(tenant_id, query, now, reason=reason)
    if not sessions:
        return []
    event = AccessRevoked(
        user_id=user_id,
        session_ids=sessions,
        reason=reason,
        revoked_at=now,
        expires_at=now + lifetime,
    )
    envelope = EventEnvelope.wrap(event, source="/halcyon/identity", tenant_id=tenant_id)
    await revocations.insert(
        tenant_id,
        {
            "_id": str(uuid7()),
            "user_id": user_id,
            "session_ids": sessions,
            "reason": reason,
            "revoked_at": now,
            "expires_at": now + lifetime,
        },
        [OutboxEvent(envelope, AccessRevoked.topic)],
    )
    return sessions
