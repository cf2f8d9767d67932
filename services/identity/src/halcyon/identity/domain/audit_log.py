"""Questions to the access audit log: who accessed what, by client, user and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AccessLogFilter:
    client_id: str | None = None
    user_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    break_the_glass: bool | None = None

    def query(self) -> dict[str, Any]:
        """The log entries this filter selects (every entry when nothing is set)."""
        query: dict[str, Any] = {}
        if self.client_id:
            query["client_id"] = self.client_id
        if self.user_id:
            query["user_id"] = self.user_id
        if self.break_the_glass is not None:
            query["break_the_glass"] = self.break_the_glass
        window: dict[str, Any] = {}
        if self.since:
            window["$gte"] = self.since
        if self.until:
            window["$lt"] = self.until
        if window:
            query["at"] = window
        return query

    def describe(self) -> str:
        """How the query reads in the audit entry that records it."""
        return f"query user={self.user_id or '*'} client={self.client_id or '*'}"
