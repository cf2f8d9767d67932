"""Sign-in rules: password policy and hashing, lockout, TOTP, opaque tokens, access-token claims.

Pure: no database, no web framework. The clock is always passed in.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from halcyon.shared.errors import DomainError

# argon2-cffi's PasswordHasher is Argon2id with the RFC 9106 "low memory" profile.
_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


class WeakPassword(ValueError):
    pass


class AccountLocked(DomainError):
    status, slug, title = 423, "account-locked", "The account is locked"


class MfaRequired(DomainError):
    status, slug, title = 401, "mfa-required", "A one-time code is required"


@dataclass(frozen=True)
class Credentials:
    """What a person signs in with: agency, email, password and maybe a one-time code."""

    agency_id: str
    email: str
    password: str
    otp_code: str | None = None


def check_password_policy(password: str, email: str | None = None) -> None:
    """NIST SP 800-63B: length over composition rules; refuse the obvious."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        raise WeakPassword("a password has at most 256 characters")
    if email and password.lower() == email.lower():
        raise WeakPassword("the password cannot be the email address")
    if len(set(password)) < 4:
        raise WeakPassword("the password is too repetitive")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same effort as a real check so response time does not reveal accounts.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LockoutPolicy:
    """After ``max_failures`` wrong attempts in a row the account is locked for ``lock_for``."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)

    def is_locked(self, locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and locked_until > now

    def should_lock(self, failures: int) -> bool:
        return failures >= self.max_failures


# -- TOTP (RFC 6238) -----------------------------------------------------------------------
def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str = "Halcyon") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def accepted_totp_step(
    secret: str, code: str, now: datetime, last_step: int | None = None
) -> int | None:
    """The 30-second step ``code`` belongs to (±1 step of drift), or None.

    A code already used (its step is not after ``last_step``) is refused, so a code seen
    over someone's shoulder cannot be replayed.
    """
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return None
            return step
    return None


# -- opaque tokens (refresh, password reset, service secrets) ------------------------------
def new_opaque_token(tenant_id: str) -> str:
    """``<tenant>.<secret>``: the tenant lets us scope the lookup; only a hash is stored."""
    return f"{tenant_id}.{secrets.token_urlsafe(32)}"


def token_tenant(token: str) -> str | None:
    tenant, sep, secret = token.rpartition(".")
    return tenant if sep and tenant and len(secret) >= 32 else None


def token_hash(token: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


# -- access-token claims -------------------------------------------------------------------
def access_claims(
    *,
    subject: str,
    tenant_id: str,
    roles: Iterable[Mapping[str, str]],
    name: str | None,
    mfa: bool,
    audience: str,
    issuer: str,
    now: datetime,
    ttl: timedelta,
    break_the_glass: Iterable[str] = (),
    break_the_glass_reason: str | None = None,
    session_id: str | None = None,
    auth_time: int | None = None,
) -> dict[str, Any]:
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "sub": subject,
        "tid": tenant_id,
        "roles": [{"site": r["site"], "role": r["role"]} for r in roles],
        "mfa": mfa,
        # How and when the person authenticated (RFC 8176 / OIDC): services check "otp".
        "amr": authentication_methods(mfa),
        "auth_time": auth_time if auth_time is not None else issued,
        "aud": audience,
        "iss": issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl.total_seconds()),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "name": name,
    }
    if session_id:
        claims["sid"] = session_id  # the sign-in session (refresh family); revocation names it
    emergency = list(break_the_glass)
    if emergency:
        claims["btg"] = emergency
        claims["btg_reason"] = break_the_glass_reason
    return claims


def authentication_methods(second_factor: bool) -> list[str]:
    """RFC 8176 ``amr``: a password always, a one-time code when it was given."""
    return ["pwd", "otp"] if second_factor else ["pwd"]
