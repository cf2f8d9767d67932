"""The input guard every service runs in front of its routes (ADR 0010).

Before a route sees a request, the guard refuses, as RFC 9457 problems with nothing
written:

- a body larger than the service's limit (413), counted while it streams in, so a
  service reached directly (not through the gateway) cannot be made to buffer 20 MiB;
- a JSON body that is not JSON or nests deeper than ``max_depth`` (400);
- JSON strings (values and keys) and query parameters that hold NUL, other control
  characters, DEL, C1 controls or lone surrogates (422) — tab, newline and carriage
  return stay allowed, because free text has them (a field that must be one line says
  so with ``halcyon.shared.text``);
- strings longer than ``max_string_chars`` (422), object keys that start with ``$``
  (they would be read as database operators), and numbers past ±2^53 or not finite
  (422): the database and every JSON client hold them exactly only up to there.

Field-level rules (lengths of names, one-line fields) stay in the pydantic models; the
guard is the floor that holds for every route, including those written tomorrow.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from halcyon.shared.http.problems import problem
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# C0 controls except tab, newline and carriage return; DEL; C1 controls; lone surrogates.
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
LARGEST_EXACT_NUMBER = 2**53 - 1
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class InputLimits:
    max_body_bytes: int = 1_048_576
    # Routes that take more (an 835 remittance file): (path, bytes), exact path match.
    larger_bodies: tuple[tuple[str, int], ...] = ()
    max_depth: int = 32
    max_string_chars: int = 100_000
    max_query_chars: int = 2_048


def path_matches(template: str, path: str) -> bool:
    """``/clients/{client_id}/documents`` matches ``/clients/c-1/documents`` (a ``{name}``
    stands for exactly one path segment); a trailing slash is ignored."""
    want = template.rstrip("/").split("/")
    have = path.rstrip("/").split("/")
    if len(want) != len(have):
        return False
    return all(
        (w.startswith("{") and w.endswith("}") and h != "") or w == h
        for w, h in zip(want, have, strict=True)
    )


def body_limit(limits: InputLimits, path: str) -> int:
    """The body limit of one route: the service's, unless the route is allowed more."""
    for route, limit in limits.larger_bodies:
        if path_matches(route, path):
            return limit
    return limits.max_body_bytes


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


class _Refused(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str, where: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.where = (
            status,
            slug,
            title,
            detail,
            where,
        )


def _invalid(detail: str, where: str) -> _Refused:
    return _Refused(422, "validation-error", "The request is not valid", detail, where)


def _parse_int(text: str) -> int:
    # Checked on the digits before converting: a 100,000-digit integer costs time to parse.
    if len(text.lstrip("-")) > 16 or abs(int(text)) > LARGEST_EXACT_NUMBER:
        raise _invalid(f"numbers must lie within ±{LARGEST_EXACT_NUMBER}", "body")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > LARGEST_EXACT_NUMBER:
        raise _invalid(f"numbers must be finite and within ±{LARGEST_EXACT_NUMBER}", "body")
    return value


def _parse_constant(name: str) -> Any:
    raise _invalid(f"{name} is not a number JSON allows", "body")


def check_text(value: str, where: str, limit: int) -> None:
    if len(value) > limit:
        raise _invalid(f"text may be at most {limit} characters", where)
    found = FORBIDDEN_CHARACTERS.search(value)
    if found:
        raise _invalid(
            f"control character U+{ord(found.group()):04X} is not allowed "
            "(only tab and newline are, in free text)",
            where,
        )


def check_json(body: bytes, limits: InputLimits) -> None:
    """Raise ``_Refused`` unless ``body`` is JSON within the limits."""
    try:
        document = json.loads(
            body,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except _Refused:
        raise
    except RecursionError:
        raise _too_deep(limits) from None
    except ValueError as exc:  # not JSON, not UTF-8
        raise _Refused(400, "malformed-json", "The body is not JSON", str(exc), "body") from None
    stack: list[tuple[Any, int, str]] = [(document, 0, "body")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            check_text(value, where, limits.max_string_chars)
        elif isinstance(value, dict | list):
            if depth >= limits.max_depth:
                raise _too_deep(limits)
            if isinstance(value, list):
                stack.extend((item, depth + 1, f"{where}.{i}") for i, item in enumerate(value))
                continue
            for key, item in value.items():
                check_text(key, f"{where}.{key[:40]}", 200)
                if key.startswith("$"):
                    raise _invalid("object keys may not start with '$'", f"{where}.{key[:40]}")
                stack.append((item, depth + 1, f"{where}.{key}"))


def _too_deep(limits: InputLimits) -> _Refused:
    return _Refused(
        400,
        "too-deeply-nested",
        "The body nests too deeply",
        f"JSON may nest at most {limits.max_depth} levels",
        "body",
    )


def check_query(query_string: bytes, limits: InputLimits) -> None:
    if len(query_string) > limits.max_query_chars * 3:
        raise _invalid("the query string is too long", "query")
    for name, value in parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True):
        # parse_qsl decodes percent-escapes as UTF-8; undecodable bytes become U+FFFD,
        # which the route's own validation then refuses where it matters.
        check_text(name, "query", 200)
        check_text(value, f"query.{name[:40]}", limits.max_query_chars)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class InputGuardMiddleware:
    """ASGI middleware: see the module docstring. Runs inside the request-id middleware
    (so problems carry the request id) and outside idempotency keys (nothing reserved)."""

    def __init__(self, app: ASGIApp, limits: InputLimits | None = None) -> None:
        self.app = app
        self.limits = limits or InputLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            if FORBIDDEN_CHARACTERS.search(scope.get("path", "")):
                raise _Refused(
                    400, "bad-request", "Bad request", "the path holds a control character", "path"
                )
            check_query(scope.get("query_string", b""), self.limits)
            body = await self._read_body(scope, receive)
            if body and _is_json(request.headers.get("content-type", "")):
                check_json(body, self.limits)
        except _ClientGone:
            return  # nobody to answer
        except _Refused as refused:
            extensions: dict[str, Any] = {}
            if refused.status == 422:
                extensions["errors"] = [
                    {"location": refused.where.split("."), "message": refused.detail}
                ]
            if refused.status == 413:
                extensions["max_body_bytes"] = body_limit(self.limits, scope.get("path", ""))
            await problem(
                refused.status,
                refused.slug,
                refused.title,
                refused.detail,
                request,
                None,
                **extensions,
            )(scope, receive, send)
            return
        if body is None:
            await self.app(scope, receive, send)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or ``None`` for requests that carry none (passed on untouched)."""
        if scope["method"] not in _BODY_METHODS:
            return None
        limit = body_limit(self.limits, scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise _too_large(limit)
                if int(declared) < 0:
                    raise ValueError(declared)
            except ValueError:
                raise _Refused(
                    400, "bad-request", "Bad request", "Content-Length is not a number", "headers"
                ) from None
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                # The caller went away mid-body (a cut-off upload): what arrived is not
                # the request they meant, so nothing of it reaches a route.
                raise _ClientGone
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _too_large(limit: int) -> _Refused:
    return _Refused(
        413,
        "payload-too-large",
        "Request body too large",
        f"request bodies may be at most {limit} bytes; nothing was saved",
        "body",
    )
