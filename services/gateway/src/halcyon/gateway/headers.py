"""Security headers on every response the gateway sends, whatever the upstream said."""

from __future__ import annotations

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# API answers are data, never a page: nothing may run or be framed.
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# Swagger UI loads its script and styles from a CDN and boots with an inline script.
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
# The console's pages: its own scripts (htmx) and styles only, forms only to itself.
_CONSOLE_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The event catalogue page (/events) is one static document with its CSS inline and no
# script: only that inline style is allowed.
_CATALOGUE_CSP = (
    b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    b"base-uri 'none'; form-action 'none'"
)
CATALOGUE_PAGE = "/events"
CONSOLE_PREFIX = "/console"
_REPLACED = {b"cache-control", b"pragma", b"content-security-policy", b"x-trace-id"} | {
    name for name, _ in _ALWAYS
}


class SecurityHeadersMiddleware:
    """Adds browser-hardening headers, and ``Cache-Control: no-store`` everywhere but the
    docs: API answers may carry health information, which must not sit in any cache
    (HIPAA 45 CFR 164.312(a)(1) access control; shared computers at front desks).

    Also returns ``X-Trace-Id`` so a user's report can be found in the traces.
    """

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str]) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope["path"] in self.docs_paths
        path = scope["path"]
        is_console = path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")
        csp = _DOCS_CSP if is_docs else _CONSOLE_CSP if is_console else _API_CSP
        if path == CATALOGUE_PAGE:
            csp = _CATALOGUE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED
                ]
                headers.extend(_ALWAYS)
                headers.append((b"content-security-policy", csp))
                if is_docs:
                    headers.append((b"cache-control", b"no-cache"))
                else:
                    headers.append((b"cache-control", b"no-store"))
                    headers.append((b"pragma", b"no-cache"))
                ctx = trace.get_current_span().get_span_context()
                if ctx.is_valid:
                    headers.append((b"x-trace-id", format(ctx.trace_id, "032x").encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
