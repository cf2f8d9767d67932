"""Signing in with a password and a one-time code, and enrolling the authenticator.

Lockout (ADR 0101): failures are counted atomically on the personnel file; the N-th in
a row locks the account. Every refusal is audited as a ``login`` the person attempted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from halcyon.identity.domain.roles import mfa_required
from halcyon.identity.domain.sign_in import (
    AccountLocked,
    Credentials,
    MfaRequired,
    accepted_totp_step,
    new_totp_secret,
    password_matches,
    provisioning_uri,
)
from halcyon.identity.runtime import IdentityRuntime
from halcyon.identity.store import AgencyRepository, StaffRepository
from halcyon.identity.usecases.sessions import SESSION, IssuedTokens, issue_tokens, lockout_policy
from halcyon.shared.auth import Caller
from halcyon.shared.errors import Conflict, Forbidden, RuleViolation, Unauthenticated
from halcyon.shared.mongo import Document

INVALID = "wrong agency, email or password"
LOCKED = "too many failed attempts; try again later or reset the password"
ALREADY_ENROLLED = "an authenticator is already enrolled; ask an admin to reset it"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


def _auth(doc: Document) -> dict[str, Any]:
    auth: dict[str, Any] = doc.get("auth") or {}
    return auth


@dataclass
class Authentication:
    """A person proving who they are; refusals are audited with the request they came with."""

    runtime: IdentityRuntime
    request: Request | None = None

    @property
    def _staff(self) -> StaffRepository:
        return self.runtime.repo(StaffRepository)

    async def _audit_login(
        self, tenant_id: str, doc: Document | None, email: str, outcome: str, reason: str | None
    ) -> None:
        # Who an audit of a sign-in names: the account if it exists, else the email tried.
        user_id = doc["_id"] if doc else f"unknown:{email}"
        await self.runtime.audit.record(
            Caller(user_id=user_id, tenant_id=tenant_id),
            action="login",
            resource=SESSION,
            resource_id=doc["_id"] if doc else None,
            outcome=outcome,
            reason=reason,
            request=self.request,
        )

    async def _failed_attempt(
        self,
        doc: Document,
        tenant_id: str,
        now: datetime,
        why: str,
        counted: Document | None = None,
    ) -> Unauthenticated:
        """Count a failure atomically (unless ``counted``: the attempt was reserved before the
        check); the N-th in a row locks the account (and says so in the log)."""
        policy = lockout_policy(self.runtime.settings)
        updated = counted or await self._staff.update(
            tenant_id, {"_id": doc["_id"]}, {"$inc": {"auth.failed_attempts": 1}}
        )
        failures = int(_auth(updated or {}).get("failed_attempts", 0))
        if policy.should_lock(failures):
            await self._staff.update(
                tenant_id,
                {"_id": doc["_id"]},
                {"$set": {"auth.locked_until": now + policy.lock_for, "auth.failed_attempts": 0}},
            )
            why = f"{why}; account locked after {failures} failed attempts"
        await self._audit_login(tenant_id, doc, doc["email"], "denied", why)
        return Unauthenticated(INVALID)

    async def check_password(self, given: Credentials, now: datetime) -> Document:
        """The active, unlocked account these credentials open, or a refusal (audited)."""
        tenant_id = given.agency_id
        agency = await self.runtime.repo(AgencyRepository).get(tenant_id, tenant_id)
        doc = await self._staff.find_one(tenant_id, {"email": given.email}) if agency else None
        if doc is None or not doc.get("active", True):
            password_matches(None, given.password)  # same work as a real check
            if agency:
                reason = "no such account" if doc is None else "account deactivated"
                await self._audit_login(tenant_id, doc, given.email, "denied", reason)
            raise Unauthenticated(INVALID)
        auth = _auth(doc)
        if lockout_policy(self.runtime.settings).is_locked(auth.get("locked_until"), now):
            await self._audit_login(tenant_id, doc, given.email, "denied", "account locked")
            raise AccountLocked(LOCKED)
        if not password_matches(auth.get("password_hash"), given.password):
            raise await self._failed_attempt(doc, tenant_id, now, "wrong password")
        return doc

    async def _reserve_attempt(self, given: Credentials, doc: Document, now: datetime) -> Document:
        """Reserve this attempt before checking the code: sign-ins sent in parallel each
        take one of the policy's slots, so no more codes are tried per lock window than
        the policy allows (counting after the check let every request in flight guess)."""
        policy = lockout_policy(self.runtime.settings)
        reserved = await self._staff.update(
            given.agency_id,
            {
                "_id": doc["_id"],
                "$and": [
                    {
                        "$or": [
                            {"auth.failed_attempts": None},
                            {"auth.failed_attempts": {"$lt": policy.max_failures}},
                        ]
                    },
                    {"$or": [{"auth.locked_until": None}, {"auth.locked_until": {"$lte": now}}]},
                ],
            },
            {"$inc": {"auth.failed_attempts": 1}},
        )
        if reserved is None:
            await self._audit_login(given.agency_id, doc, given.email, "denied", "account locked")
            raise AccountLocked(LOCKED)
        return reserved

    async def _second_factor(self, given: Credentials, doc: Document, now: datetime) -> bool:
        """Whether a one-time code was given (and right); refused if one is needed and not."""
        auth = _auth(doc)
        if not (mfa_required({r["role"] for r in doc["roles"]}) or auth.get("totp_enabled")):
            return False
        if not auth.get("totp_enabled"):
            await self._audit_login(given.agency_id, doc, given.email, "denied", "MFA not enrolled")
            raise Forbidden(
                "your role requires a second factor: enrol an authenticator app first "
                "(POST /auth/mfa/enrol)",
                mfa_enrolment_required=True,
            )
        if not given.otp_code:
            raise MfaRequired("enter the 6-digit code from your authenticator app")
        reserved = await self._reserve_attempt(given, doc, now)
        secret = self.runtime.parts.cipher.decrypt(given.agency_id, auth["totp_secret"])
        step = accepted_totp_step(secret, given.otp_code, now, auth.get("totp_last_step"))
        if step is None:
            raise await self._failed_attempt(
                doc, given.agency_id, now, "wrong one-time code", counted=reserved
            )
        # The step moves forward only once: a replayed code loses this race.
        moved = await self._staff.update(
            given.agency_id,
            {
                "_id": doc["_id"],
                "$or": [{"auth.totp_last_step": None}, {"auth.totp_last_step": {"$lt": step}}],
            },
            {"$set": {"auth.totp_last_step": step}},
        )
        if moved is None:
            raise Unauthenticated("that one-time code was already used")
        return True

    async def sign_in(self, given: Credentials) -> IssuedTokens:
        """Password, then the one-time code where one is needed; a new session's tokens."""
        now = self.runtime.parts.clock()
        doc = await self.check_password(given, now)
        mfa = await self._second_factor(given, doc, now)
        await self._staff.update(
            given.agency_id,
            {"_id": doc["_id"]},
            {"$set": {"auth.failed_attempts": 0, "auth.last_sign_in_at": now}},
        )
        await self._audit_login(given.agency_id, doc, given.email, "success", None)
        return await issue_tokens(self.runtime, doc, given.agency_id, mfa=mfa, now=now)

    async def enrol_authenticator(self, given: Credentials) -> Enrolment:
        """Start TOTP enrolment: a new secret, pending until a first code confirms it."""
        doc = await self.check_password(given, self.runtime.parts.clock())
        if _auth(doc).get("totp_enabled"):
            raise Conflict(ALREADY_ENROLLED)
        secret = new_totp_secret()
        # Conditional: an enrolment that completed since the read above is never reopened.
        started = await self._staff.update(
            given.agency_id,
            {"_id": doc["_id"], "auth.totp_enabled": {"$ne": True}},
            {
                "$set": {
                    "auth.totp_pending": self.runtime.parts.cipher.encrypt(given.agency_id, secret)
                }
            },
        )
        if started is None:
            raise Conflict(ALREADY_ENROLLED)
        return Enrolment(secret=secret, otpauth_uri=provisioning_uri(secret, doc["email"]))

    async def confirm_authenticator(self, given: Credentials) -> None:
        """Finish enrolment with a first code from the new authenticator."""
        now = self.runtime.parts.clock()
        doc = await self.check_password(given, now)
        pending = _auth(doc).get("totp_pending")
        if not pending:
            raise Conflict("no enrolment in progress (POST /auth/mfa/enrol first)")
        secret = self.runtime.parts.cipher.decrypt(given.agency_id, pending)
        step = accepted_totp_step(secret, given.otp_code or "", now)
        if step is None:
            raise RuleViolation("that code does not match the authenticator being enrolled")
        # Only over no authenticator: a second enrolment racing the first cannot replace it.
        confirmed = await self._staff.update(
            given.agency_id,
            {"_id": doc["_id"], "auth.totp_pending": pending, "auth.totp_enabled": {"$ne": True}},
            {
                "$set": {
                    "auth.totp_secret": pending,
                    "auth.totp_enabled": True,
                    "auth.totp_last_step": step,
                    "auth.totp_pending": None,
                }
            },
        )
        if confirmed is None:
            raise Conflict(ALREADY_ENROLLED)
