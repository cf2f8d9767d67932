"""What a running gateway holds: one pooled HTTP client, the token verifier, the limiters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request
from halcyon.gateway.domain.ratelimit import TokenBuckets
from halcyon.gateway.keys import GatewayAuthenticator
from halcyon.gateway.settings import GatewaySettings, RateLimit
from halcyon.shared.auth import Authenticator
from halcyon.shared.revocation import RevocationList


def _buckets(limit: RateLimit) -> TokenBuckets:
    return TokenBuckets(per_minute=limit.per_minute, burst=limit.burst)


@dataclass
class GatewayRuntime:
    settings: GatewaySettings
    http: httpx.AsyncClient
    authenticator: Authenticator | None
    users: TokenBuckets
    addresses: TokenBuckets
    public_addresses: TokenBuckets
    # (fetched_at monotonic, merged document) — the merged OpenAPI, briefly cached.
    openapi_cache: dict[str, Any] = field(default_factory=dict)
    # Round-robin position per service, for services running several instances.
    turns: dict[str, int] = field(default_factory=dict)
    # Sessions ended before their tokens expire, read from Kafka (ADR 0104).
    revocations: RevocationList = field(default_factory=RevocationList)

    def rotate(self, service: str, bases: list[str]) -> list[str]:
        """The instances in the order to try for this request: next one first."""
        if len(bases) < 2:
            return bases
        turn = self.turns.get(service, 0)
        self.turns[service] = turn + 1
        start = turn % len(bases)
        return bases[start:] + bases[:start]

    @classmethod
    def build(cls, settings: GatewaySettings) -> GatewayRuntime:
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.upstream_read_timeout_seconds,
                connect=settings.upstream_connect_timeout_seconds,
            ),
            limits=httpx.Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive_connections=settings.upstream_max_connections // 2,
            ),
            follow_redirects=False,  # a redirect is the client's business, not ours
            trust_env=False,  # never route PHI through a proxy named by the environment
        )
        authenticator: Authenticator | None = None
        # Prefer the JWKS (follows identity's key rotation) over a fixed key.
        if settings.jwks_url:
            authenticator = GatewayAuthenticator(
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                jwks_url=settings.jwks_url,
                jwks_ttl_seconds=settings.jwks_ttl_seconds,
                forced_refresh_interval_seconds=settings.jwks_forced_refresh_seconds,
            )
        elif settings.jwt_public_key_pem:
            authenticator = Authenticator(
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                public_key_pem=settings.jwt_public_key_pem,
            )
        return cls(
            settings=settings,
            http=http,
            authenticator=authenticator,
            users=_buckets(settings.user_rate_limit),
            addresses=_buckets(settings.address_rate_limit),
            public_addresses=_buckets(settings.public_rate_limit),
        )


def gateway_of(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.gateway
    return runtime
