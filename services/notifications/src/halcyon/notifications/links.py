"""Signed unsubscribe links: the token names the agency and client; only we can mint it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


def _sign(secret: str, payload: bytes) -> str:
    digest = hmac.new(f"unsubscribe:{secret}".encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def unsubscribe_token(secret: str, tenant_id: str, client_id: str) -> str:
    payload = json.dumps({"t": tenant_id, "c": client_id}, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(secret, payload)}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str] | None:
    body, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if not hmac.compare_digest(_sign(secret, payload), signature):
            return None
        data = json.loads(payload)
        return str(data["t"]), str(data["c"])
    except (ValueError, KeyError, TypeError):
        return None


def webhook_signature(secret: str, body: bytes) -> str:
    """How the SMS provider signs its webhooks (and the stand-in does the same)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
