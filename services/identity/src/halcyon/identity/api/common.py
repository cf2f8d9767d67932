"""What identity's routers share: its settings, keys, clock, and a few problem types."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from halcyon.identity.keys import SigningKeys
from halcyon.identity.settings import IdentitySettings
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import DomainError, Forbidden
from halcyon.shared.service import runtime_of

Clock = Callable[[], datetime]


class AccountLocked(DomainError):
    status, slug, title = 423, "account-locked", "The account is locked"


class MfaRequired(DomainError):
    status, slug, title = 401, "mfa-required", "A one-time code is required"


class AppendOnly(DomainError):
    status, slug, title = 405, "append-only", "This record cannot be changed or deleted"


def settings_of(request: Request) -> IdentitySettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, IdentitySettings)
    return settings


def keys_of(request: Request) -> SigningKeys:
    keys: SigningKeys = runtime_of(request).extras["keys"]
    return keys


def cipher_of(request: Request) -> FieldCipher:
    cipher: FieldCipher = runtime_of(request).extras["cipher"]
    return cipher


def clock_of(request: Request) -> Clock:
    clock: Clock = runtime_of(request).extras.get("clock") or (lambda: datetime.now(UTC))
    return clock


Settings = Annotated[IdentitySettings, Depends(settings_of)]
Keys = Annotated[SigningKeys, Depends(keys_of)]
Cipher = Annotated[FieldCipher, Depends(cipher_of)]
ClockDep = Annotated[Clock, Depends(clock_of)]


def is_platform_operator(request: Request, settings: IdentitySettings) -> bool:
    offered = request.headers.get("x-platform-operator-secret", "")
    return bool(offered) and secrets.compare_digest(
        offered.encode(), settings.platform_operator_secret.encode()
    )


def require_platform_operator(request: Request, settings: Settings) -> None:
    if not is_platform_operator(request, settings):
        raise Forbidden("this needs the platform operator's secret (X-Platform-Operator-Secret)")


PlatformOperator = Annotated[None, Depends(require_platform_operator)]


def public_fields(doc: dict[str, Any], fields: Any) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k in fields and k != "id"}
