"""Gateway settings: env prefix ``HALCYON_GATEWAY_`` (platform-wide values stay ``HALCYON_*``)."""

from __future__ import annotations

import re

from halcyon.shared.http.guard import path_matches
from halcyon.shared.settings import ServiceSettings
from pydantic import BaseModel, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")

# Identity's endpoints a person reaches before holding an access token (they carry a
# password, a refresh token or a reset token instead). The gateway lets them through
# without an access token; identity still checks whatever each of them needs.
# Service-to-service ``/oauth/token`` is deliberately absent: services call identity
# inside the cluster, never through the public entry.
DEFAULT_PUBLIC_PATHS = [
    "/api/identity/auth/sign-in",
    "/api/identity/auth/agencies",
    "/api/identity/auth/sign-out",
    "/api/identity/auth/refresh",
    "/api/identity/auth/mfa/enrol",
    "/api/identity/auth/mfa/confirm",
    "/api/identity/auth/password-reset/**",
    "/api/identity/.well-known/jwks.json",
    # Signed by their own means (the link's HMAC token; the SMS provider's signature).
    "/api/notifications/unsubscribe/**",
    "/api/notifications/webhooks/sms/**",
]


# Platform-wide operator actions (agencies, service clients, the client-credentials grant,
# signing keys) are never reachable from the public entry, whatever header or token comes
# with them: 404, as if they did not exist. Operators reach identity on the internal
# network (ADR 0105).
DEFAULT_OPERATOR_PATHS = [
    "/api/identity/agencies/**",
    "/api/identity/service-clients/**",
    "/api/identity/oauth/**",
    "/api/identity/signing-keys/**",
]


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: float
    burst: int

    @field_validator("per_minute")
    @classmethod
    def _positive_rate(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("per_minute must be positive")
        return value

    @field_validator("burst")
    @classmethod
    def _positive_burst(cls, value: int) -> int:
        if value < 1:
            raise ValueError("burst must be at least 1")
        return value


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_GATEWAY_", extra="ignore")
    service_name: str = "gateway"

    # service name -> base URL, e.g. '{"clinical": "http://127.0.0.1:8102"}' (JSON in env).
    # Several instances of one service: comma-separated URLs; requests go round-robin and
    # skip an instance that refuses connections.
    upstreams: dict[str, str] = {}
    # Upstreams /readyz requires; None means every configured upstream.
    required_upstreams: list[str] | None = None
    # Paths reachable without a token. Exact paths, or a prefix ending in "/**" that also
    # matches the prefix itself.
    public_paths: list[str] = DEFAULT_PUBLIC_PATHS
    # Paths refused with 404 (operator-only actions), same pattern syntax.
    operator_paths: list[str] = DEFAULT_OPERATOR_PATHS
    # Requests per signed-in user (tenant + subject), per client address, and per client
    # address on the public (sign-in, reset) paths, where guessing passwords happens.
    user_rate_limit: RateLimit = RateLimit(per_minute=600, burst=120)
    address_rate_limit: RateLimit = RateLimit(per_minute=1200, burst=240)
    public_rate_limit: RateLimit = RateLimit(per_minute=60, burst=30)
    # Largest request body forwarded, in bytes.
    max_body_bytes: int = 1_048_576
    # Routes that take files get their own limit: "<service> <path>" -> bytes. An 835
    # remittance file may be 10 MB (billing streams and checks it again; ADR 0604).
    # A client's scanned document may be 10 MB too (clinical checks it again). A
    # ``{name}`` in a path stands for one segment.
    body_limits: dict[str, int] = {
        "billing /remittances": 10 * 1024 * 1024,
        "clinical /clients/{client_id}/documents": 10 * 1024 * 1024,
        "identity /staff/{staff_id}/credential-files": 10 * 1024 * 1024,
        # The console's upload form: the file plus the form's few fields.
        "console /clients/{client_id}/documents": 10 * 1024 * 1024 + 64 * 1024,
        "console /admin/staff/{staff_id}/credential-files": 10 * 1024 * 1024 + 64 * 1024,
    }
    # Peers allowed to tell us the client address in X-Forwarded-For (e.g. the load
    # balancer in front of us). Anyone else could forge it to dodge rate limits and
    # poison the access audit's source address.
    trusted_proxies: list[str] = []
    # CORS stays off unless origins are named: the web console is served same-origin.
    cors_origins: list[str] = []
    jwks_ttl_seconds: float = 300.0
    # At most one refetch of the key set per this many seconds for unknown key ids.
    jwks_forced_refresh_seconds: float = 10.0
    upstream_connect_timeout_seconds: float = 3.0
    upstream_read_timeout_seconds: float = 30.0
    upstream_max_connections: int = 200
    readiness_timeout_seconds: float = 2.0
    openapi_cache_seconds: float = 30.0
    # The staff web console's base URL (HALCYON_GATEWAY_CONSOLE_UPSTREAM). When set,
    # /console and /console/** are forwarded to it without the token check: the console
    # signs people in itself and keeps their tokens server-side behind its own session
    # cookie (docs/adr/0800-console-stack.md). Same origin, so no CORS is needed.
    console_upstream: str | None = None

    @field_validator("upstreams")
    @classmethod
    def _sane_upstreams(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned: dict[str, str] = {}
        for name, bases in value.items():
            if not _SERVICE_NAME.match(name):
                raise ValueError(f"upstream name {name!r} must be lowercase letters/digits/-")
            urls = [b.strip().rstrip("/") for b in bases.split(",") if b.strip()]
            for base in urls or [bases]:
                if not base.startswith(("http://", "https://")):
                    raise ValueError(f"upstream {name!r} needs an http(s) base URL, got {base!r}")
            cleaned[name] = ",".join(urls)
        return cleaned

    @field_validator("console_upstream")
    @classmethod
    def _sane_console(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"console_upstream needs an http(s) base URL, got {value!r}")
        return value.rstrip("/")

    def instances(self, service: str) -> list[str]:
        """Every base URL of one upstream service (one per running instance)."""
        return self.upstreams[service].split(",") if service in self.upstreams else []

    def base_url(self, service: str) -> str:
        """The first instance: for readiness, OpenAPI and the JWKS."""
        return self.instances(service)[0]

    @model_validator(mode="after")
    def _default_jwks_from_identity(self) -> GatewaySettings:
        # Identity publishes its keys; when it is an upstream and nothing else was said,
        # verify against its JWKS (which follows key rotation) rather than a fixed key.
        if not self.jwks_url and "identity" in self.upstreams:
            self.jwks_url = f"{self.base_url('identity')}/.well-known/jwks.json"
        if self.required_upstreams is not None:
            unknown = set(self.required_upstreams) - set(self.upstreams)
            if unknown:
                raise ValueError(f"required_upstreams names unknown upstreams {sorted(unknown)}")
        return self

    def readiness_upstreams(self) -> list[str]:
        if self.required_upstreams is None:
            return sorted(self.upstreams)
        return sorted(self.required_upstreams)

    def body_limit(self, service: str, upstream_path: str) -> int:
        """The largest body forwarded to ``service`` at ``upstream_path``."""
        for route, limit in self.body_limits.items():
            named, _, template = route.partition(" ")
            if named == service and path_matches(template, upstream_path):
                return limit
        return self.max_body_bytes
