"""Typed FastAPI dependencies every router uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from halcyon.shared.auth import Authenticator, Caller, bearer_token
from halcyon.shared.errors import Unavailable
from halcyon.shared.revocation import RevocationList


async def current_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        raise Unavailable("token verification is not configured")
    caller = await authenticator.verify(bearer_token(authorization))
    revocations: RevocationList | None = getattr(request.app.state, "revocations", None)
    if revocations is not None:
        revocations.refuse_if_revoked(caller)
    # No person acts on a token without a second factor: every staff role needs one, and
    # a token whose roles are unknown or empty is no exception (ADR 0103). Service
    # tokens are not people and pass.
    caller.require_second_factor("your sign-in")
    request.state.caller = caller
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def require_second_factor(caller: CurrentCaller) -> Caller:
    """For routers whose every action needs a second factor whoever calls: reading the
    clinical record, signing, dispensing, reading the audit log (``dependencies=[...]``)."""
    caller.require_second_factor()
    return caller


SecondFactor = Depends(require_second_factor)
SecondFactorCaller = Annotated[Caller, SecondFactor]
