"""Token verification at the gateway: the shared verifier, kinder when identity is away.

The shared :class:`Authenticator` turns a failed JWKS fetch into "token refused" (401),
which would tell every user to sign in again whenever identity restarts. At the one
public entry that is an outage, so here:

- keys already fetched stay in use while identity cannot be reached (the token's own
  expiry still applies; a key identity withdrew stays trusted only until the fetch
  works again), and the fetch is retried after a short pause rather than per request;
- with no keys at all, the answer is 503 (come back soon), not 401 (you are not you);
- a token naming an unknown key id makes the shared verifier refetch the key set (a
  rotation may have published it); here that happens at most once per
  ``forced_refresh_interval_seconds``, so a flood of junk key ids cannot turn the
  gateway into a hammer on identity. Identity publishes a new key before signing with
  it (rotation with overlap), so a legitimate new key is never kept waiting long.
"""

from __future__ import annotations

import logging
import time

import httpx
from halcyon.shared.auth import Authenticator
from halcyon.shared.errors import Unavailable

log = logging.getLogger("halcyon.gateway.keys")


class GatewayAuthenticator(Authenticator):
    def __init__(
        self,
        *,
        audience: str,
        issuer: str,
        jwks_url: str,
        jwks_ttl_seconds: float = 300.0,
        retry_after_failure_seconds: float = 5.0,
        forced_refresh_interval_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            audience=audience, issuer=issuer, jwks_url=jwks_url, jwks_ttl_seconds=jwks_ttl_seconds
        )
        self._retry_after_failure = retry_after_failure_seconds
        self._forced_interval = forced_refresh_interval_seconds
        self._last_forced = float("-inf")

    async def _refresh(self, force: bool = False) -> None:
        if force:
            now = time.monotonic()
            if now - self._last_forced < self._forced_interval:
                return  # refetched moment ago: an unknown key id stays unknown
            self._last_forced = now
        try:
            await super()._refresh(force)
        except httpx.HTTPError as exc:
            if not self._keys:
                raise Unavailable(
                    "the token keys cannot be fetched from identity right now; retry shortly"
                ) from None
            log.warning("JWKS fetch failed (%r); verifying with the keys already known", exc)
            # Pretend the fetch was a little earlier than now, so the next try comes after
            # a short pause instead of on every request.
            self._fetched_at = time.monotonic() - self._ttl + self._retry_after_failure
