"""Sign-in, MFA enrolment, refresh, sign-out, password reset, service client credentials."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, status
from halcyon.identity.api.common import (
    AccountLocked,
    Cipher,
    ClockDep,
    Keys,
    MfaRequired,
    PlatformOperator,
    Settings,
)
from halcyon.identity.domain.roles import SERVICE, mfa_required, refresh_needs_second_factor
from halcyon.identity.domain.sign_in import (
    LockoutPolicy,
    WeakPassword,
    accepted_totp_step,
    access_claims,
    check_password_policy,
    hash_password,
    new_opaque_token,
    new_totp_secret,
    password_matches,
    provisioning_uri,
    token_hash,
    token_tenant,
)
from halcyon.identity.mail import send_password_reset
from halcyon.identity.settings import IdentitySettings
from halcyon.identity.store import (
    PLATFORM,
    AgencyRepository,
    PasswordResetRepository,
    RefreshTokenRepository,
    RevocationRepository,
    ServiceClientRepository,
    StaffRepository,
)
from halcyon.identity.usecases import find_agencies
from halcyon.identity.usecases.sessions import end_sessions
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller, SecondFactorRequired
from halcyon.shared.errors import Conflict, Forbidden, RuleViolation, Unauthenticated
from halcyon.shared.mongo import DuplicateRecord
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from uuid6 import uuid7

router = APIRouter(tags=["sign-in"])
Staff = Annotated[StaffRepository, repository(StaffRepository)]
RefreshTokens = Annotated[RefreshTokenRepository, repository(RefreshTokenRepository)]
Resets = Annotated[PasswordResetRepository, repository(PasswordResetRepository)]
Agencies = Annotated[AgencyRepository, repository(AgencyRepository)]
ServiceClients = Annotated[ServiceClientRepository, repository(ServiceClientRepository)]
Revocations = Annotated[RevocationRepository, repository(RevocationRepository)]

AgencyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
EmailIn = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254)]
OneTimeCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]
INVALID = "wrong agency, email or password"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Strict):
    agency_id: AgencyId
    email: EmailIn
    password: str = Field(max_length=256)
    otp_code: OneTimeCode | None = None


class MfaConfirm(Strict):
    agency_id: AgencyId
    email: EmailIn
    password: str = Field(max_length=256)
    otp_code: OneTimeCode


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class ResetRequest(Strict):
    agency_id: AgencyId
    email: EmailIn


class ResetConfirm(Strict):
    reset_token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(max_length=256)


class EmailLookup(Strict):
    email: EmailIn


class AgencyOption(BaseModel):
    agency_id: str
    name: str


class AgencyOptions(BaseModel):
    agencies: list[AgencyOption]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str | None = None


class MfaEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class ServiceClientIn(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,40}$")]


class ServiceClientOut(BaseModel):
    client_id: str
    client_secret: str


class ClientCredentials(Strict):
    grant_type: str = Field(pattern="^client_credentials$")
    client_id: str = Field(max_length=64)
    client_secret: str = Field(max_length=256)
    tenant_id: AgencyId  # the agency on whose behalf the service acts


def _policy(settings: IdentitySettings) -> LockoutPolicy:
    return LockoutPolicy(settings.lockout_max_failures, timedelta(seconds=settings.lockout_seconds))


def _person(tenant_id: str, doc: dict[str, Any] | None, email: str) -> Caller:
    """Who an audit of a sign-in names: the account if it exists, else the email tried."""
    user_id = doc["_id"] if doc else f"unknown:{email}"
    return Caller(user_id=user_id, tenant_id=tenant_id)


async def _audit_login(
    audit: AuditTrail,
    tenant_id: str,
    doc: dict[str, Any] | None,
    email: str,
    outcome: str,
    reason: str | None,
    request: Request,
) -> None:
    await audit.record(
        _person(tenant_id, doc, email),
        action="login",
        resource="identity/session",
        resource_id=doc["_id"] if doc else None,
        outcome=outcome,
        reason=reason,
        request=request,
    )


async def _failed_attempt(
    staff: StaffRepository,
    doc: dict[str, Any],
    tenant_id: str,
    settings: IdentitySettings,
    now: datetime,
    audit: AuditTrail,
    request: Request,
    why: str,
    counted: dict[str, Any] | None = None,
) -> Unauthenticated:
    """Count a failure atomically (unless ``counted``: the attempt was reserved before the
    check); the N-th in a row locks the account (and says so in the log)."""
    policy = _policy(settings)
    updated = counted or await staff.update(
        tenant_id, {"_id": doc["_id"]}, {"$inc": {"auth.failed_attempts": 1}}
    )
    failures = int(((updated or {}).get("auth") or {}).get("failed_attempts", 0))
    if policy.should_lock(failures):
        await staff.update(
            tenant_id,
            {"_id": doc["_id"]},
            {"$set": {"auth.locked_until": now + policy.lock_for, "auth.failed_attempts": 0}},
        )
        await _audit_login(
            audit,
            tenant_id,
            doc,
            doc["email"],
            "denied",
            f"{why}; account locked after {failures} failed attempts",
            request,
        )
    else:
        await _audit_login(audit, tenant_id, doc, doc["email"], "denied", why, request)
    return Unauthenticated(INVALID)


async def _check_password(
    body: SignIn | MfaConfirm,
    staff: StaffRepository,
    agencies: AgencyRepository,
    settings: IdentitySettings,
    now: datetime,
    audit: AuditTrail,
    request: Request,
) -> dict[str, Any]:
    agency = await agencies.get(body.agency_id, body.agency_id)
    doc = await staff.find_one(body.agency_id, {"email": body.email}) if agency else None
    if doc is None or not doc.get("active", True):
        password_matches(None, body.password)  # same work as a real check
        if agency:
            reason = "no such account" if doc is None else "account deactivated"
            await _audit_login(audit, body.agency_id, doc, body.email, "denied", reason, request)
        raise Unauthenticated(INVALID)
    auth = doc.get("auth") or {}
    if _policy(settings).is_locked(auth.get("locked_until"), now):
        await _audit_login(
            audit, body.agency_id, doc, body.email, "denied", "account locked", request
        )
        raise AccountLocked("too many failed attempts; try again later or reset the password")
    if not password_matches(auth.get("password_hash"), body.password):
        raise await _failed_attempt(
            staff, doc, body.agency_id, settings, now, audit, request, "wrong password"
        )
    return doc


async def issue_tokens(
    doc: dict[str, Any],
    tenant_id: str,
    *,
    mfa: bool,
    keys: Any,
    refresh_tokens: RefreshTokenRepository,
    settings: IdentitySettings,
    now: datetime,
    family_id: str | None = None,
    auth_time: datetime | None = None,
) -> TokenOut:
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
    await refresh_tokens.insert(
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
    return TokenOut(
        access_token=await keys.sign(claims),
        expires_in=int(ttl.total_seconds()),
        refresh_token=refresh,
    )


@router.post(
    "/auth/agencies",
    response_model=AgencyOptions,
    summary="The agencies an email can sign in to (the same shape when there are none)",
)
async def agencies_for_email(body: EmailLookup, staff: Staff, agencies: Agencies) -> AgencyOptions:
    found = await find_agencies.agencies_for_email(body.email, staff, agencies)
    return AgencyOptions(agencies=[AgencyOption(agency_id=a.agency_id, name=a.name) for a in found])


@router.post("/auth/sign-in", response_model=TokenOut, summary="Sign in with password (+ TOTP)")
async def sign_in(
    body: SignIn,
    request: Request,
    staff: Staff,
    agencies: Agencies,
    refresh_tokens: RefreshTokens,
    keys: Keys,
    cipher: Cipher,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
) -> TokenOut:
    now = clock()
    doc = await _check_password(body, staff, agencies, settings, now, audit, request)
    auth = doc.get("auth") or {}
    roles = {r["role"] for r in doc["roles"]}
    mfa = False
    if mfa_required(roles) or auth.get("totp_enabled"):
        if not auth.get("totp_enabled"):
            await _audit_login(
                audit, body.agency_id, doc, body.email, "denied", "MFA not enrolled", request
            )
            raise Forbidden(
                "your role requires a second factor: enrol an authenticator app first "
                "(POST /auth/mfa/enrol)",
                mfa_enrolment_required=True,
            )
        if not body.otp_code:
            raise MfaRequired("enter the 6-digit code from your authenticator app")
        # Reserve this attempt before checking the code: sign-ins sent in parallel each
        # take one of the policy's slots, so no more codes are tried per lock window than
        # the policy allows (counting after the check let every request in flight guess).
        policy = _policy(settings)
        reserved = await staff.update(
            body.agency_id,
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
            await _audit_login(
                audit, body.agency_id, doc, body.email, "denied", "account locked", request
            )
            raise AccountLocked("too many failed attempts; try again later or reset the password")
        secret = cipher.decrypt(body.agency_id, auth["totp_secret"])
        step = accepted_totp_step(secret, body.otp_code, now, auth.get("totp_last_step"))
        if step is None:
            raise await _failed_attempt(
                staff, doc, body.agency_id, settings, now, audit, request,
                "wrong one-time code", counted=reserved,
            )  # fmt: skip
        # The step moves forward only once: a replayed code loses this race.
        moved = await staff.update(
            body.agency_id,
            {
                "_id": doc["_id"],
                "$or": [
                    {"auth.totp_last_step": None},
                    {"auth.totp_last_step": {"$lt": step}},
                ],
            },
            {"$set": {"auth.totp_last_step": step}},
        )
        if moved is None:
            raise Unauthenticated("that one-time code was already used")
        mfa = True
    await staff.update(
        body.agency_id,
        {"_id": doc["_id"]},
        {"$set": {"auth.failed_attempts": 0, "auth.last_sign_in_at": now}},
    )
    await _audit_login(audit, body.agency_id, doc, body.email, "success", None, request)
    return await issue_tokens(
        doc,
        body.agency_id,
        mfa=mfa,
        keys=keys,
        refresh_tokens=refresh_tokens,
        settings=settings,
        now=now,
    )


@router.post(
    "/auth/mfa/enrol", response_model=MfaEnrolment, summary="Start TOTP enrolment (password)"
)
async def enrol_mfa(
    body: SignIn,
    request: Request,
    staff: Staff,
    agencies: Agencies,
    cipher: Cipher,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
) -> MfaEnrolment:
    doc = await _check_password(body, staff, agencies, settings, clock(), audit, request)
    if (doc.get("auth") or {}).get("totp_enabled"):
        raise Conflict("an authenticator is already enrolled; ask an admin to reset it")
    secret = new_totp_secret()
    # Conditional: an enrolment that completed since the read above is never reopened.
    started = await staff.update(
        body.agency_id,
        {"_id": doc["_id"], "auth.totp_enabled": {"$ne": True}},
        {"$set": {"auth.totp_pending": cipher.encrypt(body.agency_id, secret)}},
    )
    if started is None:
        raise Conflict("an authenticator is already enrolled; ask an admin to reset it")
    return MfaEnrolment(secret=secret, otpauth_uri=provisioning_uri(secret, doc["email"]))


@router.post(
    "/auth/mfa/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Finish TOTP enrolment with a first code",
)
async def confirm_mfa(
    body: MfaConfirm,
    request: Request,
    staff: Staff,
    agencies: Agencies,
    cipher: Cipher,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
) -> Response:
    now = clock()
    doc = await _check_password(body, staff, agencies, settings, now, audit, request)
    pending = (doc.get("auth") or {}).get("totp_pending")
    if not pending:
        raise Conflict("no enrolment in progress (POST /auth/mfa/enrol first)")
    step = accepted_totp_step(cipher.decrypt(body.agency_id, pending), body.otp_code, now)
    if step is None:
        raise RuleViolation("that code does not match the authenticator being enrolled")
    # Only over no authenticator: a second enrolment racing the first cannot replace it.
    confirmed = await staff.update(
        body.agency_id,
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
        raise Conflict("an authenticator is already enrolled; ask an admin to reset it")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _refresh_tenant(token: str) -> str:
    tenant = token_tenant(token)
    if tenant is None:
        raise Unauthenticated("not a refresh token")
    return tenant


@router.post("/auth/refresh", response_model=TokenOut, summary="Trade a refresh token (rotates)")
async def refresh(
    body: RefreshIn,
    request: Request,
    staff: Staff,
    refresh_tokens: RefreshTokens,
    revocations: Revocations,
    keys: Keys,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
) -> TokenOut:
    now = clock()
    tenant = _refresh_tenant(body.refresh_token)
    hashed = token_hash(body.refresh_token)
    record = await refresh_tokens.get(tenant, hashed)
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
    claimed = await refresh_tokens.update(
        tenant,
        {"_id": hashed, "used_at": None, "revoked_at": None},
        {"$set": {"used_at": now}},
    )
    if claimed is None:
        # A rotated token came back: it was stolen or replayed. End the whole session
        # family so neither the thief nor the victim keeps a live token (RFC 9700 4.14.2),
        # access tokens included.
        await end_sessions(
            tenant,
            record["user_id"],
            "refresh_reused",
            refresh_tokens=refresh_tokens,
            revocations=revocations,
            settings=settings,
            now=now,
            family_id=record["family_id"],
        )
        await audit.record(
            Caller(user_id=record["user_id"], tenant_id=tenant),
            action="refresh",
            resource="identity/session",
            resource_id=record["family_id"],
            outcome="denied",
            reason="refresh token reused; session family revoked",
            request=request,
        )
        raise Unauthenticated("refresh token already used; every session token was revoked")
    doc = await staff.get(tenant, record["user_id"])
    auth = (doc or {}).get("auth") or {}
    if (
        doc is None
        or not doc.get("active", True)
        or _policy(settings).is_locked(auth.get("locked_until"), now)
    ):
        await refresh_tokens.revoke_where(tenant, {"family_id": record["family_id"]}, now)
        raise Unauthenticated("account no longer allowed to sign in")
    # Roles are read again now; a session that began without a second factor cannot
    # carry roles that need one (a promotion means a fresh sign-in with the code).
    second_factor = bool(record.get("mfa"))
    if refresh_needs_second_factor(doc["roles"], second_factor):
        await refresh_tokens.revoke_where(
            tenant, {"family_id": record["family_id"]}, now, reason="second_factor_required"
        )
        await audit.record(
            Caller(user_id=record["user_id"], tenant_id=tenant),
            action="refresh",
            resource="identity/session",
            resource_id=record["family_id"],
            outcome="denied",
            reason="roles need a second factor the session never gave",
            request=request,
        )
        raise SecondFactorRequired(
            "your role now needs a second factor: sign in again with your one-time code",
            second_factor_required=True,
        )
    return await issue_tokens(
        doc,
        tenant,
        mfa=second_factor,
        keys=keys,
        refresh_tokens=refresh_tokens,
        settings=settings,
        now=now,
        family_id=record["family_id"],
        auth_time=record.get("auth_time"),
    )


@router.post(
    "/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke this session"
)
async def sign_out(
    body: RefreshIn,
    refresh_tokens: RefreshTokens,
    revocations: Revocations,
    settings: Settings,
    clock: ClockDep,
) -> Response:
    tenant = _refresh_tenant(body.refresh_token)
    record = await refresh_tokens.get(tenant, token_hash(body.refresh_token))
    if record is not None and record.get("revoked_at") is None:
        # The access tokens of the session stop too, everywhere, not in 15 minutes.
        await end_sessions(
            tenant,
            record["user_id"],
            "signed_out",
            refresh_tokens=refresh_tokens,
            revocations=revocations,
            settings=settings,
            now=clock(),
            family_id=record["family_id"],
        )
    # Same answer either way: signing out twice is fine.
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask for a password reset (single-use, expiring)",
)
async def request_password_reset(
    body: ResetRequest,
    staff: Staff,
    agencies: Agencies,
    resets: Resets,
    settings: Settings,
    clock: ClockDep,
) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": "if the account exists, reset instructions were sent"}
    if not await agencies.get(body.agency_id, body.agency_id):
        return answer
    doc = await staff.find_one(body.agency_id, {"email": body.email})
    if doc is None or not doc.get("active", True):
        return answer  # same answer: do not reveal which emails have accounts
    now = clock()
    token = new_opaque_token(body.agency_id)
    await resets.insert(
        body.agency_id,
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
    return answer


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with a reset token",
)
async def confirm_password_reset(
    body: ResetConfirm,
    request: Request,
    staff: Staff,
    resets: Resets,
    refresh_tokens: RefreshTokens,
    revocations: Revocations,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
) -> Response:
    now = clock()
    tenant = token_tenant(body.reset_token)
    if tenant is None:
        raise Unauthenticated("reset token invalid or expired")
    hashed = token_hash(body.reset_token)
    pending = await resets.get(tenant, hashed)
    doc = await staff.get(tenant, pending["user_id"]) if pending else None
    if pending is None or doc is None:
        raise Unauthenticated("reset token invalid or expired")
    try:  # validate before the token is spent, so a weak password can be retried
        check_password_policy(body.new_password, doc["email"])
    except WeakPassword as exc:
        raise RuleViolation(str(exc), field="new_password") from None
    used = await resets.update(
        tenant,
        {"_id": hashed, "used_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )
    if used is None:
        raise Unauthenticated("reset token invalid, expired or already used")
    await staff.update(
        tenant,
        {"_id": doc["_id"]},
        {
            "$set": {
                "auth.password_hash": hash_password(body.new_password),
                "auth.failed_attempts": 0,
                "auth.locked_until": None,
                "auth.password_changed_at": now,
            }
        },
    )
    await end_sessions(
        tenant,
        doc["_id"],
        "password_reset",
        refresh_tokens=refresh_tokens,
        revocations=revocations,
        settings=settings,
        now=now,
    )
    await audit.record(
        Caller(user_id=doc["_id"], tenant_id=tenant),
        action="password_reset",
        resource="identity/session",
        resource_id=doc["_id"],
        request=request,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- service-to-service ------------------------------------------------------------------
@router.post(
    "/service-clients",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceClientOut,
    tags=["platform"],
    summary="Register a service client (platform operator); the secret is shown once",
)
async def register_service_client(
    body: ServiceClientIn, _: PlatformOperator, clients: ServiceClients, clock: ClockDep
) -> ServiceClientOut:
    secret = new_opaque_token(PLATFORM)
    try:
        await clients.insert(
            PLATFORM,
            {"_id": body.name, "secret_hash": token_hash(secret), "created_at": clock()},
        )
    except DuplicateRecord:
        raise Conflict(f"service client {body.name} already exists") from None
    return ServiceClientOut(client_id=body.name, client_secret=secret)


@router.post(
    "/oauth/token",
    response_model=TokenOut,
    tags=["platform"],
    summary="Client-credentials grant: a short-lived token for a service",
)
async def service_token(
    body: ClientCredentials,
    clients: ServiceClients,
    agencies: Agencies,
    keys: Keys,
    settings: Settings,
    clock: ClockDep,
) -> TokenOut:
    client = await clients.get(PLATFORM, body.client_id)
    if client is None or not secrets.compare_digest(
        client["secret_hash"], token_hash(body.client_secret)
    ):
        raise Unauthenticated("unknown client or wrong secret")
    if not await agencies.get(body.tenant_id, body.tenant_id):
        raise Unauthenticated("no such agency")
    ttl = timedelta(seconds=settings.service_token_ttl_seconds)
    claims = access_claims(
        subject=f"service:{body.client_id}",
        tenant_id=body.tenant_id,
        roles=[{"site": "*", "role": SERVICE}],
        name=body.client_id,
        mfa=False,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        now=clock(),
        ttl=ttl,
    )
    return TokenOut(access_token=await keys.sign(claims), expires_in=int(ttl.total_seconds()))
