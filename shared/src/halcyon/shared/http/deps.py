"""Typed FastAPI dependencies every router uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from halcyon.shared.auth import Authenticator, Caller, bearer_token
from halcyon.shared.errors import Unavailable


async def current_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        raise Unavailable("token verification is not configured")
    caller = await authenticator.verify(bearer_token(authorization))
    request.state.caller = caller
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
