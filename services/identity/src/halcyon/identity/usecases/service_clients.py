"""Service clients (platform-wide): registered by the platform operator, each trading its
secret for a short-lived token on an agency's behalf (client-credentials grant)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from halcyon.identity.domain.roles import SERVICE
from halcyon.identity.domain.sign_in import access_claims, new_opaque_token, token_hash
from halcyon.identity.runtime import IdentityRuntime
from halcyon.identity.store import PLATFORM, AgencyRepository, ServiceClientRepository
from halcyon.identity.usecases.sessions import IssuedTokens
from halcyon.shared.errors import Conflict, Unauthenticated
from halcyon.shared.mongo import DuplicateRecord


async def register_service_client(runtime: IdentityRuntime, name: str) -> str:
    """Register ``name``; returns its secret (only a hash is kept: shown once)."""
    secret = new_opaque_token(PLATFORM)
    try:
        await runtime.repo(ServiceClientRepository).insert(
            PLATFORM,
            {"_id": name, "secret_hash": token_hash(secret), "created_at": runtime.parts.clock()},
        )
    except DuplicateRecord:
        raise Conflict(f"service client {name} already exists") from None
    return secret


async def service_token(
    runtime: IdentityRuntime, client_id: str, client_secret: str, tenant_id: str
) -> IssuedTokens:
    """A short-lived token for the service ``client_id`` acting for agency ``tenant_id``."""
    client = await runtime.repo(ServiceClientRepository).get(PLATFORM, client_id)
    if client is None or not secrets.compare_digest(
        client["secret_hash"], token_hash(client_secret)
    ):
        raise Unauthenticated("unknown client or wrong secret")
    if not await runtime.repo(AgencyRepository).get(tenant_id, tenant_id):
        raise Unauthenticated("no such agency")
    settings = runtime.settings
    ttl = timedelta(seconds=settings.service_token_ttl_seconds)
    claims = access_claims(
        subject=f"service:{client_id}",
        tenant_id=tenant_id,
        roles=[{"site": "*", "role": SERVICE}],
        name=client_id,
        mfa=False,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        now=runtime.parts.clock(),
        ttl=ttl,
    )
    return IssuedTokens(
        access_token=await runtime.parts.keys.sign(claims), expires_in=int(ttl.total_seconds())
    )
