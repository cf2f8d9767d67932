"""Signed access tokens for tests, made the way the identity service makes them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class TestTokenIssuer:
    audience: str = "halcyon"
    issuer: str = "halcyon-identity"
    kid: str = "test-key-1"
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    __test__ = False  # not a pytest test class

    @property
    def public_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def private_pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def mint(
        self,
        *,
        tenant_id: str,
        user_id: str | None = None,
        roles: Iterable[tuple[str, str]] = (("*", "agency_admin"),),
        mfa: bool = True,
        ttl_seconds: int = 600,
        session_id: str | None = None,
        **extra: Any,
    ) -> str:
        """A token as identity issues it; ``mfa=True`` (the default) means the person signed
        in with password and one-time code (``amr`` ["pwd", "otp"]), as every role that
        reads client records must, so tests keep their meaning under the second-factor
        checks; pass ``mfa=False`` for a password-only session."""
        now = int(time.time())
        claims = {
            "sub": user_id or f"user-{uuid.uuid4().hex[:8]}",
            "tid": tenant_id,
            "roles": [{"site": site, "role": role} for site, role in roles],
            "mfa": mfa,
            "amr": ["pwd", "otp"] if mfa else ["pwd"],
            "auth_time": now,
            "sid": session_id or uuid.uuid4().hex,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS document, as identity's /.well-known/jwks.json serves it."""
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def headers(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(**kwargs)}"}
