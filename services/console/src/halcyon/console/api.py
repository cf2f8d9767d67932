"""Calls to the gateway's public API with the signed-in person's own token, and RFC 9457
problems turned into sentences a person can act on."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from halcyon.console.sessions import Session

# What a person should read for a status when the service said nothing more useful.
_STATUS_WORDS = {
    400: "The request could not be understood.",
    401: "You are no longer signed in. Please sign in again.",
    403: "You do not have permission to do this here.",
    404: "That record could not be found (it may belong to another site or agency).",
    409: "This clashes with something that already exists or changed meanwhile.",
    413: "That is too large to send.",
    422: "Some of what was entered is not acceptable.",
    429: "Too many requests right now. Wait a moment and try again.",
    503: "A service is not reachable right now. Try again shortly.",
    504: "A service did not answer in time. Try again shortly.",
}

# Booking gates (scheduling's failed_conditions codes) in words for the front desk.
_CONDITION_WORDS = {
    "informed_consent": "The client has no active informed consent for this protocol.",
    "eligible_screening": "The client has no signed, eligible medical screening.",
    "preparation_sessions": "Not enough completed preparation sessions.",
    "room_attribute": "The room lacks what this session needs (e.g. a dosing room).",
    "two_therapists": "A dosing session needs two therapists.",
}


class ApiError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or str(status))
        self.status = status
        self.problem = problem

    @property
    def words(self) -> list[str]:
        return problem_words(self.status, self.problem)


class SessionExpired(Exception):
    """The tokens could not be renewed: the person must sign in again."""


def _field_name(location: list[str]) -> str:
    parts = [p for p in location if p not in {"body", "query", "path"}]
    return " ".join(p.replace("_", " ") for p in parts) or "a field"


def problem_words(status: int, problem: dict[str, Any]) -> list[str]:
    """Sentences for a person: the service's own detail first, then the specifics
    (which gates refused a booking, which fields were wrong). Never a stack trace."""
    lines: list[str] = []
    title = str(problem.get("title") or "")
    detail = str(problem.get("detail") or "")
    conditions = problem.get("failed_conditions") or []
    errors = problem.get("errors") or []
    if conditions:
        lines.append(title or "The booking was refused.")
        for condition in conditions:
            code = str(condition.get("code", ""))
            said = str(condition.get("detail") or "")
            lines.append(said or _CONDITION_WORDS.get(code, code.replace("_", " ")))
        return lines
    if errors:
        lines.append("Please correct these fields; nothing was saved:")
        for error in errors:
            lines.append(f"{_field_name(error.get('location', []))}: {error.get('message', '')}")
        return lines
    if detail:
        lines.append(detail[0].upper() + detail[1:] + ("" if detail.endswith(".") else "."))
    elif title:
        lines.append(title + ".")
    else:
        lines.append(_STATUS_WORDS.get(status, f"The request failed (HTTP {status})."))
    return lines


@dataclass
class Api:
    """One request's view of the API, as the signed-in person."""

    http: httpx.AsyncClient
    session: Session | None
    refreshed: list[bool] = field(default_factory=list)

    async def _renew(self) -> None:
        session = self.session
        if session is None or not session.refresh_token:
            raise SessionExpired()
        response = await self.http.post(
            "/api/identity/auth/refresh", json={"refresh_token": session.refresh_token}
        )
        if response.status_code != 200:
            raise SessionExpired()
        body = response.json()
        session.access_token = body["access_token"]
        session.refresh_token = body.get("refresh_token") or session.refresh_token
        session.access_expires_at = time.time() + int(body.get("expires_in", 300))
        self.refreshed.append(True)

    async def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.session is not None:
            if time.time() > self.session.access_expires_at - 15:
                await self._renew()
            headers["Authorization"] = f"Bearer {self.session.access_token}"
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code == 401 and self.session is not None:
            await self._renew()
            headers["Authorization"] = f"Bearer {self.session.access_token}"
            response = await self.http.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401:
                raise SessionExpired()
        return response

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.raw(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
                if not isinstance(problem, dict):
                    problem = {}
            except ValueError:
                problem = {}
            raise ApiError(response.status_code, problem)
        if not response.content:
            return None
        return response.json()

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return await self.call("GET", path, params=clean)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.call("POST", path, json=body if body is not None else {})

    async def put(self, path: str, body: Any) -> Any:
        return await self.call("PUT", path, json=body)

    async def items(self, path: str, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
        """One page of a paginated list (the console shows the first page; lists link on)."""
        body = await self.get(path, limit=limit, **params)
        items: list[dict[str, Any]] = body.get("items", []) if isinstance(body, dict) else []
        return items

    async def soft(self, path: str, default: Any = None, **params: Any) -> Any:
        """A read whose failure should not take the page down (e.g. a panel the person's
        role may not see): the default instead, so the rest of the page still works."""
        try:
            return await self.get(path, **params)
        except ApiError:
            return default
