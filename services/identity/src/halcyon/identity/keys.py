"""Signing keys: RS256 key pairs in identity's database, private halves encrypted.

The newest ``active`` key signs. Rotation adds a new key and retires the old one,
which stays in the JWKS (``retain_until``) until every token it signed has expired,
so services that cache the JWKS keep verifying tokens issued before the rotation.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from halcyon.identity.store import PLATFORM, SigningKeyRepository
from halcyon.shared.auth import Authenticator
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import Conflict, Unauthenticated
from halcyon.shared.mongo import DuplicateRecord
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
KEY_CACHE = timedelta(seconds=60)
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SigningKeys:
    def __init__(
        self,
        repo: SigningKeyRepository,
        cipher: FieldCipher,
        *,
        longest_token_ttl: timedelta,
        clock: Clock = _utcnow,
    ) -> None:
        self._repo = repo
        self._cipher = cipher
        # Retired keys stay published this long: the longest-lived token plus clock skew.
        self._overlap = longest_token_ttl + timedelta(minutes=2)
        self._clock = clock
        self._private: dict[str, Any] = {}
        self._public: dict[str, tuple[Any, datetime | None, datetime]] = {}
        self._lock = asyncio.Lock()

    # -- keys ---------------------------------------------------------------------------
    async def _active_doc(self) -> dict[str, Any]:
        docs = await self._repo.find(
            PLATFORM, {"status": "active"}, sort=(("created_at", -1),), limit=1
        )
        if docs:
            return docs[0]
        async with self._lock:
            docs = await self._repo.find(
                PLATFORM, {"status": "active"}, sort=(("created_at", -1),), limit=1
            )
            if docs:
                return docs[0]
            # First start: a deterministic id, so racing instances create exactly one key.
            try:
                return await self._insert_key("k-initial")
            except DuplicateRecord:
                found = await self._repo.get(PLATFORM, "k-initial")
                if found is None:  # another instance created it, then it vanished
                    raise Conflict(
                        "the initial signing key could not be created; try again"
                    ) from None
                return found

    async def _insert_key(self, kid: str) -> dict[str, Any]:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
        public_jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
        return await self._repo.insert(
            PLATFORM,
            {
                "_id": kid,
                "algorithm": ALGORITHM,
                "status": "active",
                "created_at": self._clock(),
                "public_jwk": public_jwk,
                "private_pem": self._cipher.encrypt(PLATFORM, pem),
                "retain_until": None,
            },
        )

    async def rotate(self) -> dict[str, Any]:
        """A new signing key; the previous ones retire but stay published for the overlap."""
        previous = await self._active_doc()
        now = self._clock()
        kid = f"k-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        new = await self._insert_key(kid)
        await self._repo.update(
            PLATFORM,
            {"_id": previous["_id"], "status": "active"},
            {"$set": {"status": "retired", "retired_at": now, "retain_until": now + self._overlap}},
        )
        others = await self._repo.find(PLATFORM, {"status": "active", "_id": {"$ne": kid}})
        for other in others:  # a concurrent rotation's key: retire it too, keep one signer
            await self._repo.update(
                PLATFORM,
                {"_id": other["_id"], "status": "active"},
                {
                    "$set": {
                        "status": "retired",
                        "retired_at": now,
                        "retain_until": now + self._overlap,
                    }
                },
            )
        if not await self._repo.get(PLATFORM, kid):
            raise Conflict("another rotation happened at the same time; try again")
        return {"kid": new["_id"], "retired": [previous["_id"], *(o["_id"] for o in others)]}

    async def published(self) -> list[dict[str, Any]]:
        now = self._clock()
        docs = await self._repo.find(PLATFORM, {}, sort=(("created_at", -1),))
        return [
            doc
            for doc in docs
            if doc["status"] == "active" or (doc.get("retain_until") and doc["retain_until"] > now)
        ]

    async def jwks(self) -> dict[str, Any]:
        await self._active_doc()
        return {"keys": [doc["public_jwk"] for doc in await self.published()]}

    # -- signing and verifying ------------------------------------------------------------
    async def sign(self, claims: dict[str, Any]) -> str:
        doc = await self._active_doc()
        kid = doc["_id"]
        if kid not in self._private:
            pem = self._cipher.decrypt(PLATFORM, doc["private_pem"])
            self._private[kid] = serialization.load_pem_private_key(pem.encode(), password=None)
        return jwt.encode(claims, self._private[kid], algorithm=ALGORITHM, headers={"kid": kid})

    async def public_key(self, kid: str) -> Any:
        now = self._clock()
        cached = self._public.get(kid)
        if cached is None or cached[2] + KEY_CACHE <= now:
            # Re-read now and then: another instance may have rotated this key out, and a
            # key must stop verifying here when it leaves the JWKS.
            doc = await self._repo.get(PLATFORM, kid)
            if doc is None:
                raise Unauthenticated("token signed by an unknown key")
            retain_until = None if doc["status"] == "active" else doc.get("retain_until")
            cached = (jwt.PyJWK(doc["public_jwk"]).key, retain_until, now)
            self._public[kid] = cached
        key, retain_until, _ = cached
        if retain_until is not None and retain_until <= now:
            raise Unauthenticated("token signed by a key that is no longer published")
        return key


class LocalAuthenticator(Authenticator):
    """Identity verifies tokens for its own endpoints against its own key table.

    Same checks as every other service (``Authenticator.verify``: explicit asymmetric
    algorithms, audience, issuer, expiry); only where the public key comes from differs.
    """

    def __init__(self, keys: SigningKeys, *, audience: str, issuer: str) -> None:
        super().__init__(audience=audience, issuer=issuer, public_key_pem="unused")
        self._pem = None
        self._signing_keys = keys

    async def _key_for(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("token names no key")
        return await self._signing_keys.public_key(kid)
