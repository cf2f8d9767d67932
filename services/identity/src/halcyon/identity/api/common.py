"""What identity's routers share: the platform operator's check and a problem type."""

from __future__ import annotations

import secrets

from fastapi import Depends, Request
from halcyon.identity.api.deps import Settings
from halcyon.identity.settings import IdentitySettings
from halcyon.shared.errors import DomainError, Forbidden


class AppendOnly(DomainError):
    status, slug, title = 405, "append-only", "This record cannot be changed or deleted"


def is_platform_operator(request: Request, settings: IdentitySettings) -> bool:
    offered = request.headers.get("x-platform-operator-secret", "")
    return bool(offered) and secrets.compare_digest(
        offered.encode(), settings.platform_operator_secret.encode()
    )


def require_platform_operator(request: Request, settings: Settings) -> None:
    if not is_platform_operator(request, settings):
        raise Forbidden("this needs the platform operator's secret (X-Platform-Operator-Secret)")


PlatformOperator = Depends(require_platform_operator)
