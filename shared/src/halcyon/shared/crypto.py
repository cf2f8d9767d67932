"""Application-level encryption of sensitive fields with per-tenant keys.

Each agency's key is derived (HKDF-SHA256) from the service's master secret and
the tenant id; values are AES-256-GCM with the tenant id as associated data, so
a ciphertext copied into another agency's record does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"


class FieldCipher:
    def __init__(self, master_secret: str) -> None:
        if len(master_secret) < 16:
            raise ValueError("the field-encryption secret must be at least 16 characters")
        self._master = master_secret.encode()
        self._keys: dict[str, AESGCM] = {}

    def _key(self, tenant_id: str) -> AESGCM:
        if tenant_id not in self._keys:
            derived = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"halcyon-field-key",
                info=tenant_id.encode(),
            ).derive(self._master)
            self._keys[tenant_id] = AESGCM(derived)
        return self._keys[tenant_id]

    def encrypt(self, tenant_id: str, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._key(tenant_id).encrypt(nonce, plaintext.encode(), tenant_id.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, tenant_id: str, token: str) -> str:
        if not token.startswith(PREFIX):
            raise ValueError("not an encrypted field")
        raw = base64.urlsafe_b64decode(token[len(PREFIX) :])
        return self._key(tenant_id).decrypt(raw[:12], raw[12:], tenant_id.encode()).decode()

    def seal(self, tenant_id: str, data: bytes, context: str) -> bytes:
        """Bytes (a file's chunk) sealed for this agency; ``context`` (e.g. document id and
        chunk number) is bound in too, so a chunk moved to another place does not open."""
        nonce = os.urandom(12)
        aad = f"{tenant_id}\0{context}".encode()
        return nonce + self._key(tenant_id).encrypt(nonce, data, aad)

    def unseal(self, tenant_id: str, sealed: bytes, context: str) -> bytes:
        """The bytes ``seal`` sealed; raises ``cryptography.exceptions.InvalidTag`` when they
        were altered, moved or sealed for another agency."""
        aad = f"{tenant_id}\0{context}".encode()
        return self._key(tenant_id).decrypt(sealed[:12], sealed[12:], aad)


def mask(value: str, visible: int = 4) -> str:
    """``123-45-6789`` → ``•••-••-6789``: enough to confirm identity at the desk."""
    digits = [c for c in value if c.isalnum()]
    keep = "".join(digits[-visible:])
    return "•" * max(len(digits) - visible, 0) + keep
