"""Access-token verification every service relies on."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from halcyon.shared.auth import Authenticator
from halcyon.shared.errors import Unauthenticated
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
    assert caller.has_role({"nurse"}, "s1") and not caller.has_role({"nurse"}, "s2")


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
