"""Password reset: a single-use, expiring token mailed to the person; using it sets the
new password, lifts a lockout and ends every session (ADR 0101, 0104)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from halcyon.identity.domain.sign_in import (
    WeakPassword,
    check_password_policy,
    hash_password,
    new_opaque_token,
    token_hash,
    token_tenant,
)
from halcyon.identity.mail import send_password_reset
from halcyon.identity.runtime import IdentityRuntime
from halcyon.identity.store import AgencyRepository, PasswordResetRepository, StaffRepository
from halcyon.identity.usecases.sessions import SESSION, end_sessions
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation, Unauthenticated
from halcyon.shared.mongo import Document

INVALID = "reset token invalid or expired"


@dataclass
class PasswordResets:
    runtime: IdentityRuntime
    request: Request | None = None

    async def request_reset(self, agency_id: str, email: str) -> None:
        """Mail a reset token if the account exists; nothing tells the asker whether it did."""
        if not await self.runtime.repo(AgencyRepository).get(agency_id, agency_id):
            return
        doc = await self.runtime.repo(StaffRepository).find_one(agency_id, {"email": email})
        if doc is None or not doc.get("active", True):
            return  # same answer: do not reveal which emails have accounts
        settings = self.runtime.settings
        now = self.runtime.parts.clock()
        token = new_opaque_token(agency_id)
        await self.runtime.repo(PasswordResetRepository).insert(
            agency_id,
            {
                "_id": token_hash(token),
                "user_id": doc["_id"],
                "requested_at": now,
                "expires_at": now + timedelta(seconds=settings.password_reset_ttl_seconds),
                "used_at": None,
            },
        )
        # Only the mailbox learns the token; the answer is the same whatever happened.
        await send_password_reset(
            settings,
            str(doc["email"]),
            str(doc.get("display_name", "")),
            token,
            settings.password_reset_ttl_seconds // 60,
        )

    async def _account_of(self, tenant_id: str, hashed: str) -> Document:
        pending = await self.runtime.repo(PasswordResetRepository).get(tenant_id, hashed)
        if pending is None:
            raise Unauthenticated(INVALID)
        doc = await self.runtime.repo(StaffRepository).get(tenant_id, pending["user_id"])
        if doc is None:
            raise Unauthenticated(INVALID)
        return doc

    async def reset(self, reset_token: str, new_password: str) -> None:
        """Spend the token and set the new password; every session of the person ends."""
        now = self.runtime.parts.clock()
        tenant_id = token_tenant(reset_token)
        if tenant_id is None:
            raise Unauthenticated(INVALID)
        hashed = token_hash(reset_token)
        doc = await self._account_of(tenant_id, hashed)
        try:  # validate before the token is spent, so a weak password can be retried
            check_password_policy(new_password, doc["email"])
        except WeakPassword as exc:
            raise RuleViolation(str(exc), field="new_password") from None
        used = await self.runtime.repo(PasswordResetRepository).update(
            tenant_id,
            {"_id": hashed, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        if used is None:
            raise Unauthenticated("reset token invalid, expired or already used")
        await self.runtime.repo(StaffRepository).update(
            tenant_id,
            {"_id": doc["_id"]},
            {
                "$set": {
                    "auth.password_hash": hash_password(new_password),
                    "auth.failed_attempts": 0,
                    "auth.locked_until": None,
                    "auth.password_changed_at": now,
                }
            },
        )
        await end_sessions(self.runtime, tenant_id, doc["_id"], "password_reset", now=now)
        await self.runtime.audit.record(
            Caller(user_id=doc["_id"], tenant_id=tenant_id),
            action="password_reset",
            resource=SESSION,
            resource_id=doc["_id"],
            request=self.request,
        )
