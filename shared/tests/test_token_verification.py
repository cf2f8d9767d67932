"""Access-token verification every service relies on."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from halcyon.shared.auth import Authenticator
from halcyon.shared.errors import Unauthenticated, Unavailable
from halcyon.shared.testing.tokens import TestTokenIssuer


@pytest.fixture
def issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture
def verifier(issuer: TestTokenIssuer) -> Authenticator:
    return Authenticator(
        audience="halcyon", issuer="halcyon-identity", public_key_pem=issuer.public_pem
    )


async def test_a_good_token_names_the_caller(
    issuer: TestTokenIssuer, verifier: Authenticator
) -> None:
    caller = await verifier.verify(issuer.mint(tenant_id="a", user_id="u", roles=[("s1", "nurse")]))
    assert (caller.tenant_id, caller.user_id) == ("a", "u")
    assert caller.has_role({"nurse"}, "s1")
    assert not caller.has_role({"nurse"}, "s2")


async def test_expired_tampered_wrong_key_and_audience_are_refused(
    issuer: TestTokenIssuer, verifier: Authenticator
) -> None:
    expired = issuer.mint(tenant_id="a", ttl_seconds=-5)
    header, payload, signature = issuer.mint(tenant_id="a").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["tid"] = "agency-b"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    tampered = f"{header}.{forged}.{signature}"
    other_key = TestTokenIssuer().mint(tenant_id="a")
    wrong_audience = TestTokenIssuer(audience="elsewhere", _key=issuer._key).mint(tenant_id="a")
    for token in [expired, tampered, other_key, wrong_audience, "garbage"]:
        with pytest.raises(Unauthenticated):
            await verifier.verify(token)


async def test_alg_none_and_public_key_as_hmac_secret_are_refused(
    issuer: TestTokenIssuer, verifier: Authenticator
) -> None:
    now = int(time.time())
    claims = {
        "sub": "u",
        "tid": "a",
        "aud": "halcyon",
        "iss": "halcyon-identity",
        "iat": now,
        "exp": now + 60,
    }
    unsigned = jwt.encode(claims, key="", algorithm="none")
    with pytest.raises(Unauthenticated, match="not accepted"):
        await verifier.verify(unsigned)
    # The classic confusion attack: sign HS256 with the server's *public* key.
    import hashlib
    import hmac

    head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(
        b"="
    )
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    mac = hmac.new(issuer.public_pem.encode(), head + b"." + body, hashlib.sha256).digest()
    confused = b".".join([head, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    with pytest.raises(Unauthenticated, match="not accepted"):
        await verifier.verify(confused)


async def test_refresh_tokens_are_not_access_tokens(
    issuer: TestTokenIssuer, verifier: Authenticator
) -> None:
    with pytest.raises(Unauthenticated, match="not an access token"):
        await verifier.verify(issuer.mint(tenant_id="a", typ="refresh"))


class KeyServer:
    """Identity's JWKS endpoint as an httpx transport that can go away."""

    def __init__(self, issuer: TestTokenIssuer) -> None:
        self.issuer = issuer
        self.up = True
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if not self.up:
            return httpx.Response(503)
        return httpx.Response(200, json=self.issuer.jwks())

    def authenticator(self, **kwargs: Any) -> Authenticator:
        return Authenticator(
            audience="halcyon",
            issuer="halcyon-identity",
            jwks_url="http://identity/jwks",
            http=httpx.AsyncClient(transport=httpx.MockTransport(self.handle)),
            **kwargs,
        )


async def test_jwks_outage_before_any_key_is_a_503_not_a_401(issuer: TestTokenIssuer) -> None:
    server = KeyServer(issuer)
    server.up = False
    with pytest.raises(Unavailable):
        await server.authenticator().verify(issuer.mint(tenant_id="a"))


async def test_known_keys_keep_working_while_identity_is_away(issuer: TestTokenIssuer) -> None:
    server = KeyServer(issuer)
    verifier = server.authenticator(jwks_ttl_seconds=0)  # always stale: refetch each time
    await verifier.verify(issuer.mint(tenant_id="a"))
    server.up = False
    caller = await verifier.verify(issuer.mint(tenant_id="a", user_id="still-me"))
    assert caller.user_id == "still-me"


async def test_unknown_key_ids_refetch_at_most_once_per_cooldown(issuer: TestTokenIssuer) -> None:
    server = KeyServer(issuer)
    verifier = server.authenticator(unknown_kid_cooldown_seconds=60)
    stranger = TestTokenIssuer(kid="someone-else")
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await verifier.verify(stranger.mint(tenant_id="a"))
    assert server.requests == 2  # the first fetch, then one forced refetch


async def test_a_token_verified_before_is_not_checked_again_until_it_expires(
    issuer: TestTokenIssuer, verifier: Authenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    token = issuer.mint(tenant_id="a", user_id="u", roles=[("s1", "nurse")], ttl_seconds=1)
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert again == first
    assert len(decoded) == 1  # the second time from the process's memory
    await asyncio.sleep(2.05)
    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.verify(token)  # remembered, yet refused once it expires


async def test_a_remembered_token_stops_working_when_its_key_leaves_the_key_set(
    issuer: TestTokenIssuer,
) -> None:
    server = KeyServer(issuer)
    verifier = server.authenticator(jwks_ttl_seconds=0)  # refetch on every check
    token = issuer.mint(tenant_id="a")
    await verifier.verify(token)
    await verifier.verify(token)
    server.issuer = TestTokenIssuer()  # identity rotated: same key id, another key
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)
