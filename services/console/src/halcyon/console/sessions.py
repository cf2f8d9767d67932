"""Server-side sessions: the browser holds only a signed, random session id.

Access and refresh tokens never reach the browser (no script can read them, none sits in
the browser's storage). Sessions live in this process's memory: a restart signs everyone
out, which is safe (they sign in again) and keeps the console stateless on disk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from halcyon.shared.grants import roles_at

COOKIE = "halcyon_console"


@dataclass
class Session:
    id: str
    csrf: str
    agency_id: str
    email: str
    access_token: str
    refresh_token: str | None
    access_expires_at: float
    user_id: str
    grants: list[tuple[str, str]]  # (site, role)
    display_name: str = ""
    site_id: str | None = None
    site_ids: list[str] = field(default_factory=list)
    site_names: dict[str, str] = field(default_factory=dict)
    site_zones: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    names: dict[str, str] = field(default_factory=dict)  # staff id -> name (display cache)

    def roles_at(self, site_id: str | None) -> set[str]:
        return roles_at(self.grants, site_id)

    def has(self, *roles: str) -> bool:
        return bool(self.roles_at(self.site_id) & set(roles))

    @property
    def sites(self) -> list[str]:
        return sorted({s for s, _ in self.grants if s != "*"})

    @property
    def site_name(self) -> str:
        return self.site_names.get(self.site_id or "", self.site_id or "")

    @property
    def zone(self) -> str:
        return self.site_zones.get(self.site_id or "", "UTC")


def token_claims(token: str) -> dict[str, Any]:
    """The access token's payload, for display and routing only (never for trust: every
    API call is verified by the gateway and the service)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload))
        return claims
    except (IndexError, ValueError):
        return {}


class SessionStore:
    def __init__(self, secret: str, idle_seconds: int, absolute_seconds: int) -> None:
        self._key = hashlib.sha256(("console-session:" + secret).encode()).digest()
        self._sessions: dict[str, Session] = {}
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    def sign(self, session_id: str) -> str:
        mac = hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{session_id}.{mac}"

    def unsign(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        session_id, _, mac = cookie.rpartition(".")
        expected = hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()[:32]
        return session_id if hmac.compare_digest(mac, expected) else None

    def create(self, **values: Any) -> Session:
        session = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(24), **values)
        self._sessions[session.id] = session
        return session

    def get(self, cookie: str | None) -> tuple[Session | None, bool]:
        """(session, expired): expired is True when a session existed but timed out."""
        session_id = self.unsign(cookie)
        if session_id is None:
            return None, False
        session = self._sessions.get(session_id)
        if session is None:
            return None, True
        now = time.time()
        if (
            now - session.last_seen > self.idle_seconds
            or now - session.created_at > self.absolute_seconds
        ):
            self._sessions.pop(session_id, None)
            return None, True
        session.last_seen = now
        return session, False

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.id, None)
