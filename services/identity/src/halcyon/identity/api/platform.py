"""JWKS, signing-key rotation and the credential-expiry trigger."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from halcyon.identity.api.common import PlatformOperator
from halcyon.identity.api.deps import ExpiryScan, Keys, Settings
from halcyon.identity.domain.roles import MANAGE_AGENCY
from halcyon.shared.access import Access
from halcyon.shared.errors import Forbidden
from halcyon.shared.grants import ALL_SITES

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
    dependencies=[PlatformOperator],
)
async def rotate_signing_key(keys: Keys) -> dict[str, Any]:
    # One key signs every agency's tokens: only the platform operator, never a tenant's
    # admin, may change it (ADR 0105).
    return await keys.rotate()


@router.post(
    "/credentials/expiry-scan",
    tags=["staff"],
    summary="Run the daily credential-expiry scan for my agency now",
)
async def scan_credentials(
    access: Access,
    job: ExpiryScan,
    settings: Settings,
    as_of: Annotated[date | None, Query(description="pretend today is this day (not prod)")] = None,
) -> dict[str, int]:
    await access.require(MANAGE_AGENCY, ALL_SITES, action="scan", resource="identity/credentials")
    if as_of is not None and settings.environment == "production":
        raise Forbidden("as_of is for tests and rehearsals, not production")
    return {"queued": await job.scan_agency(access.tenant_id, as_of)}
