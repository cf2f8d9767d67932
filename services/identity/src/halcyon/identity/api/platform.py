"""JWKS, signing-key rotation and the credential-expiry trigger."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from halcyon.identity.api.common import Keys, PlatformOperator, Settings
from halcyon.identity.domain.roles import MANAGE_AGENCY
from halcyon.identity.jobs import CredentialExpiryJob
from halcyon.shared.auth import ALL_SITES
from halcyon.shared.errors import Forbidden
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Runtime

router = APIRouter(tags=["keys"])


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify Halcyon access tokens (current and recently retired)",
)
async def jwks(keys: Keys, response: Response) -> dict[str, Any]:
    # Short cache: verifiers refetch on an unknown kid anyway, so a rotation is seen at once.
    response.headers["Cache-Control"] = "public, max-age=60"
    return await keys.jwks()


@router.post(
    "/signing-keys/rotate",
    summary="Start signing with a new key; the old one stays published until its tokens expire",
)
async def rotate_signing_key(_: PlatformOperator, keys: Keys) -> dict[str, Any]:
    # One key signs every agency's tokens: only the platform operator, never a tenant's
    # admin, may change it (ADR 0105).
    return await keys.rotate()


@router.post(
    "/credentials/expiry-scan",
    tags=["staff"],
    summary="Run the daily credential-expiry scan for my agency now",
)
async def scan_credentials(
    caller: CurrentCaller,
    runtime: Runtime,
    settings: Settings,
    as_of: Annotated[date | None, Query(description="pretend today is this day (not prod)")] = None,
) -> dict[str, int]:
    caller.require(MANAGE_AGENCY, ALL_SITES)
    if as_of is not None and settings.environment == "production":
        raise Forbidden("as_of is for tests and rehearsals, not production")
    job: CredentialExpiryJob = runtime.extras["credential_job"]
    return {"queued": await job.scan_agency(caller.tenant_id, as_of)}
