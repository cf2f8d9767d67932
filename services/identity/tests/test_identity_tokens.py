"""Tokens as another service sees them: it verifies with identity's JWKS (real processes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from halcyon.identity.keys import SigningKeys
from halcyon.identity.store import PLATFORM, SigningKeyRepository
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import Unauthenticated
from halcyon.shared.mongo import Document
from halcyon.shared.settings import DEVELOPMENT_SECRET
from pymongo import AsyncMongoClient

from services.identity.tests.identity_testkit import (
    OPERATOR,
    bearer,
    create_agency,
    sign_in,
    start_identity,
    start_service_verifying_with,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256_with(key: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def _identity_private_key(
    mongo_client: AsyncMongoClient[Document], database: str, kid: str
) -> Any:
    """The real signing key, read the way identity reads it (to forge well-signed bad claims)."""
    doc = await mongo_client[database]["signing_keys"].find_one({"_id": kid})
    assert doc is not None
    pem = FieldCipher(DEVELOPMENT_SECRET).decrypt(PLATFORM, doc["private_pem"])
    return serialization.load_pem_private_key(pem.encode(), password=None)


async def test_another_service_refuses_every_kind_of_bad_token_and_accepts_identitys(
    start_service: StartService, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    identity = start_identity(start_service)
    remote_service = start_service_verifying_with(start_service, identity)
    async with (
        httpx.AsyncClient(base_url=identity.url, timeout=30) as http,
        httpx.AsyncClient(base_url=remote_service.url, timeout=30) as remote,
    ):
        agency = await create_agency(http)
        good = agency.admin.tokens["access_token"]
        header = jwt.get_unverified_header(good)
        claims = jwt.decode(good, options={"verify_signature": False})
        accepted = await remote.get("/whoami", headers=bearer(good))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["tenant_id"] == agency.id

        real_key = await _identity_private_key(mongo_client, f"t_{unique}_identity", header["kid"])
        now = int(time.time())
        expired = jwt.encode(
            {**claims, "iat": now - 3600, "nbf": now - 3600, "exp": now - 60, "jti": "e"},
            real_key,
            algorithm="RS256",
            headers={"kid": header["kid"]},
        )
        wrong_audience = jwt.encode(
            {**claims, "aud": "some-other-system"},
            real_key,
            algorithm="RS256",
            headers={"kid": header["kid"]},
        )
        head, _body, signature = good.split(".")
        escalated = {**claims, "tid": "another-agency"}
        tampered = f"{head}.{_b64(json.dumps(escalated).encode())}.{signature}"
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        wrong_key = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": header["kid"]})
        alg_none = (
            f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']}).encode())}."
            f"{_b64(json.dumps(claims).encode())}."
        )
        jwks = (await http.get("/.well-known/jwks.json")).json()
        public_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public_as_hmac = _hs256_with(
            public_pem, {"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, claims
        )
        refresh_as_access = agency.admin.tokens["refresh_token"]
        for name, token in {
            "expired": expired,
            "wrong audience": wrong_audience,
            "tampered": tampered,
            "wrong key": wrong_key,
            "alg none": alg_none,
            "public key as HMAC secret": public_as_hmac,
            "refresh token": refresh_as_access,
        }.items():
            refused = await remote.get("/whoami", headers=bearer(token))
            assert refused.status_code == 401, f"{name}: {refused.text}"
            assert refused.headers["content-type"] == "application/problem+json"
            # identity's own endpoints apply the same verification
            also = await http.get("/me", headers=bearer(token))
            assert also.status_code == 401, f"{name} at identity: {also.text}"
        # The good token still works after all that.
        assert (await remote.get("/whoami", headers=bearer(good))).status_code == 200


async def test_tokens_from_before_a_rotation_verify_until_they_expire(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    remote_service = start_service_verifying_with(start_service, identity)
    async with (
        httpx.AsyncClient(base_url=identity.url, timeout=30) as http,
        httpx.AsyncClient(base_url=remote_service.url, timeout=30) as remote,
    ):
        agency = await create_agency(http)
        before = agency.admin.tokens["access_token"]
        assert (await remote.get("/whoami", headers=bearer(before))).status_code == 200
        # Only the platform operator rotates the key every agency's tokens are signed with.
        refused = await http.post("/signing-keys/rotate", headers=bearer(before))
        assert refused.status_code == 403, refused.text
        rotated = await http.post("/signing-keys/rotate", headers=OPERATOR)
        assert rotated.status_code == 200, rotated.text
        old_kid = jwt.get_unverified_header(before)["kid"]
        assert rotated.json()["retired"] == [old_kid]
        kids = {k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]}
        assert kids == {old_kid, rotated.json()["kid"]}
        after = (await sign_in(http, agency.admin)).json()["access_token"]
        assert jwt.get_unverified_header(after)["kid"] == rotated.json()["kid"]
        # the other service has the old key set cached; the new kid makes it refetch.
        assert (await remote.get("/whoami", headers=bearer(after))).status_code == 200
        assert (await remote.get("/whoami", headers=bearer(before))).status_code == 200
        assert (await http.get("/me", headers=bearer(before))).status_code == 200


async def test_retired_key_leaves_the_jwks_once_its_tokens_have_expired(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    now = [datetime(2026, 11, 27, 12, 0, tzinfo=UTC)]
    repo = SigningKeyRepository(mongo_client[f"t_{unique}_keys"])
    keys = SigningKeys(
        repo,
        FieldCipher(DEVELOPMENT_SECRET),
        longest_token_ttl=timedelta(minutes=15),
        clock=lambda: now[0],
    )
    first = (await keys.jwks())["keys"][0]["kid"]
    token = await keys.sign({"sub": "u", "jti": uuid.uuid4().hex})
    second = (await keys.rotate())["kid"]
    assert {k["kid"] for k in (await keys.jwks())["keys"]} == {first, second}
    assert jwt.get_unverified_header(await keys.sign({"sub": "u"}))["kid"] == second
    now[0] += timedelta(minutes=16)  # still inside the overlap (15 min + skew)
    assert {k["kid"] for k in (await keys.jwks())["keys"]} == {first, second}
    assert await keys.public_key(first) is not None  # identity itself still verifies it
    now[0] += timedelta(minutes=2)
    assert [k["kid"] for k in (await keys.jwks())["keys"]] == [second]
    with pytest.raises(Unauthenticated):
        await keys.public_key(first)
    assert jwt.get_unverified_header(token)["kid"] == first
    for key in (await keys.jwks())["keys"]:
        assert key["kty"] == "RSA"
        assert "d" not in key
        assert "p" not in key
