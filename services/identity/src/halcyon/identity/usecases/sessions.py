"""Sign-in sessions: tokens issued, refresh tokens rotated, sessions ended at once.

A session is a refresh family; its access tokens carry the family id as ``sid``. Ending
sessions revokes the families here and records an ``AccessRevoked`` event in the same
single-document write as the revocation record (outbox), which every service and the
gateway read into their revocation lists (ADR 0104).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from halcyon.identity.domain.roles import refresh_needs_second_factor
from halcyon.identity.domain.sign_in import (
    LockoutPolicy,
    access_claims,
    new_opaque_token,
    token_hash,
    token_tenant,
)
from halcyon.identity.runtime import IdentityRuntime
from halcyon.identity.settings import IdentitySettings
from halcyon.identity.store import RefreshTokenRepository, RevocationRepository, StaffRepository
from halcyon.shared.auth import Caller, SecondFactorRequired
from halcyon.shared.contracts.identity import AccessRevoked
from halcyon.shared.errors import Unauthenticated
from halcyon.shared.mongo import Document
from uuid6 import uuid7

SESSION = "identity/session"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None = None


def longest_access_lifetime(settings: IdentitySettings) -> timedelta:
    """No access token of a session outlives this (break-the-glass ones live longest)."""
    return timedelta(
        seconds=max(settings.access_token_ttl_seconds, settings.break_the_glass_ttl_seconds)
    )


def lockout_policy(settings: IdentitySettings) -> LockoutPolicy:
    return LockoutPolicy(settings.lockout_max_failures, timedelta(seconds=settings.lockout_seconds))


def refresh_tenant(token: str) -> str:
    tenant = token_tenant(token)
    if tenant is None:
        raise Unauthenticated("not a refresh token")
    return tenant


async def end_sessions(
    runtime: IdentityRuntime,
    tenant_id: str,
    user_id: str,
    reason: str,
    *,
    now: datetime,
    family_id: str | None = None,
) -> list[str]:
    """End one session (``family_id``) or every session of the person; return their ids."""
    refresh_tokens = runtime.repo(RefreshTokenRepository)
    lifetime = longest_access_lifetime(runtime.settings)
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
    await runtime.repo(RevocationRepository).insert(
        tenant_id,
        {
            "_id": str(uuid7()),
            "user_id": user_id,
            "session_ids": sessions,
            "reason": reason,
            "revoked_at": now,
            "expires_at": now + lifetime,
        },
        [runtime.event(event, tenant_id=tenant_id)],
    )
    return sessions


async def issue_tokens(
    runtime: IdentityRuntime,
    doc: Document,
    tenant_id: str,
    *,
    mfa: bool,
    now: datetime,
    family_id: str | None = None,
    auth_time: datetime | None = None,
) -> IssuedTokens:
    """An access token and a new refresh token of the session ``family_id`` (or a new one)."""
    settings = runtime.settings
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    family_id = family_id or str(uuid7())
    signed_in_at = auth_time or now
    claims = access_claims(
        subject=doc["_id"],
        tenant_id=tenant_id,
        roles=doc["roles"],
        name=doc.get("display_name"),
        mfa=mfa,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        now=now,
        ttl=ttl,
        session_id=family_id,
        auth_time=int(signed_in_at.timestamp()),
    )
    refresh = new_opaque_token(tenant_id)
    await runtime.repo(RefreshTokenRepository).insert(
        tenant_id,
        {
            "_id": token_hash(refresh),
            "user_id": doc["_id"],
            "family_id": family_id,
            "mfa": mfa,
            "auth_time": signed_in_at,
            "issued_at": now,
            "expires_at": now + timedelta(seconds=settings.refresh_token_ttl_seconds),
            "used_at": None,
            "revoked_at": None,
        },
    )
    return IssuedTokens(
        access_token=await runtime.parts.keys.sign(claims),
        expires_in=int(ttl.total_seconds()),
        refresh_token=refresh,
    )


@dataclass
class Sessions:
    """Refreshing and ending a session, as the person holding its refresh token asks."""

    runtime: IdentityRuntime
    request: Request | None = None

    async def _refused(self, tenant_id: str, record: Document, reason: str) -> None:
        await self.runtime.audit.record(
            Caller(user_id=record["user_id"], tenant_id=tenant_id),
            action="refresh",
            resource=SESSION,
            resource_id=record["family_id"],
            outcome="denied",
            reason=reason,
            request=self.request,
        )

    async def _live_record(self, tenant_id: str, hashed: str, now: datetime) -> Document:
        record = await self.runtime.repo(RefreshTokenRepository).get(tenant_id, hashed)
        if record is None or record.get("revoked_at") is not None:
            why = (record or {}).get("revoked_reason")
            if why in {"role_changed", "mfa_reset"}:
                raise SecondFactorRequired(
                    "your access changed: sign in again (with your one-time code if your role "
                    "needs one)",
                    second_factor_required=True,
                )
            raise Unauthenticated("refresh token revoked or unknown; sign in again")
        if record["expires_at"] <= now:
            raise Unauthenticated("refresh token expired; sign in again")
        return record

    async def _claim(self, tenant_id: str, hashed: str, record: Document, now: datetime) -> None:
        """Mark the token used; a token used before means theft or replay: end the family."""
        claimed = await self.runtime.repo(RefreshTokenRepository).update(
            tenant_id,
            {"_id": hashed, "used_at": None, "revoked_at": None},
            {"$set": {"used_at": now}},
        )
        if claimed is not None:
            return
        # A rotated token came back: it was stolen or replayed. End the whole session
        # family so neither the thief nor the victim keeps a live token (RFC 9700 4.14.2),
        # access tokens included.
        await end_sessions(
            self.runtime,
            tenant_id,
            record["user_id"],
            "refresh_reused",
            now=now,
            family_id=record["family_id"],
        )
        await self._refused(tenant_id, record, "refresh token reused; session family revoked")
        raise Unauthenticated("refresh token already used; every session token was revoked")

    async def _person_still_allowed(
        self, tenant_id: str, record: Document, now: datetime
    ) -> Document:
        refresh_tokens = self.runtime.repo(RefreshTokenRepository)
        doc = await self.runtime.repo(StaffRepository).get(tenant_id, record["user_id"])
        auth: dict[str, Any] = (doc or {}).get("auth") or {}
        locked = lockout_policy(self.runtime.settings).is_locked(auth.get("locked_until"), now)
        if doc is None or not doc.get("active", True) or locked:
            await refresh_tokens.revoke_where(tenant_id, {"family_id": record["family_id"]}, now)
            raise Unauthenticated("account no longer allowed to sign in")
        # Roles are read again now; a session that began without a second factor cannot
        # carry roles that need one (a promotion means a fresh sign-in with the code).
        if refresh_needs_second_factor(doc["roles"], bool(record.get("mfa"))):
            await refresh_tokens.revoke_where(
                tenant_id, {"family_id": record["family_id"]}, now, reason="second_factor_required"
            )
            await self._refused(
                tenant_id, record, "roles need a second factor the session never gave"
            )
            raise SecondFactorRequired(
                "your role now needs a second factor: sign in again with your one-time code",
                second_factor_required=True,
            )
        return doc

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Trade a refresh token for new tokens of the same session (the old one is spent)."""
        now = self.runtime.parts.clock()
        tenant_id = refresh_tenant(refresh_token)
        hashed = token_hash(refresh_token)
        record = await self._live_record(tenant_id, hashed, now)
        await self._claim(tenant_id, hashed, record, now)
        doc = await self._person_still_allowed(tenant_id, record, now)
        return await issue_tokens(
            self.runtime,
            doc,
            tenant_id,
            mfa=bool(record.get("mfa")),
            now=now,
            family_id=record["family_id"],
            auth_time=record.get("auth_time"),
        )

    async def sign_out(self, refresh_token: str) -> None:
        """End the session of this refresh token; signing out twice is fine."""
        tenant_id = refresh_tenant(refresh_token)
        record = await self.runtime.repo(RefreshTokenRepository).get(
            tenant_id, token_hash(refresh_token)
        )
        if record is not None and record.get("revoked_at") is None:
            # The access tokens of the session stop too, everywhere, not in 15 minutes.
            await end_sessions(
                self.runtime,
                tenant_id,
                record["user_id"],
                "signed_out",
                now=self.runtime.parts.clock(),
                family_id=record["family_id"],
            )
