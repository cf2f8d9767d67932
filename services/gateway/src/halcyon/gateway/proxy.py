"""``/api/<service>/<path>`` -> ``<upstream base>/<path>``: verify, limit, forward, stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from halcyon.gateway.domain.ratelimit import Decision
from halcyon.gateway.domain.routing import (
    BadPath,
    client_address,
    downstream_response_headers,
    is_operator_path,
    is_public,
    split_api_path,
    upstream_request_headers,
)
from halcyon.gateway.headers import CONSOLE_PREFIX
from halcyon.gateway.runtime import gateway_of
from halcyon.shared.auth import bearer_token
from halcyon.shared.errors import Unauthenticated, Unavailable
from halcyon.shared.http.problems import problem
from starlette.background import BackgroundTask

log = logging.getLogger("halcyon.gateway.proxy")
router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class BodyTooLarge(Exception):
    pass


def _too_many(request: Request, decision: Decision, who: str) -> Response:
    return problem(
        429,
        "rate-limited",
        "Too many requests",
        f"the request limit per {who} was reached; retry after {decision.retry_after}s",
        request,
        headers={"Retry-After": str(decision.retry_after)},
        retry_after_seconds=decision.retry_after,
    )


def _too_large(request: Request, limit: int) -> Response:
    return problem(
        413,
        "payload-too-large",
        "Request body too large",
        f"request bodies may be at most {limit} bytes; nothing was forwarded",
        request,
        max_body_bytes=limit,
    )


async def _limited_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The client's body, streamed on as it arrives, stopped once it passes the limit
    (a chunked upload has no Content-Length to check up front)."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge()
        if chunk:
            yield chunk


@router.api_route("/api/{service}", methods=METHODS, include_in_schema=False)
@router.api_route("/api/{service}/{path:path}", methods=METHODS, include_in_schema=False)
async def forward(request: Request) -> Response:
    gateway = gateway_of(request)
    settings = gateway.settings
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)

    # Addresses are limited before anything else, so floods of bad tokens cost us little.
    decision = gateway.addresses.take(address)
    if not decision.allowed:
        return _too_many(request, decision, "client address")

    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    try:
        service, upstream_path = split_api_path(raw_path)
    except BadPath as exc:
        return problem(400, "bad-request", "Bad request", str(exc), request)
    bases = settings.instances(service)
    if not bases or is_operator_path(request.url.path, settings.operator_paths):
        # Operator actions do not exist on the public side (ADR 0105).
        return problem(404, "not-found", "No such service", f"no such path {raw_path!r}", request)
    bases = gateway.rotate(service, bases)

    if is_public(request.url.path, settings.public_paths):
        # Sign-in and password reset: limited harder per address (password guessing).
        decision = gateway.public_addresses.take(address)
        if not decision.allowed:
            return _too_many(request, decision, "client address")
    else:
        if gateway.authenticator is None:
            raise Unavailable("token verification is not configured")
        try:
            caller = await gateway.authenticator.verify(
                bearer_token(request.headers.get("authorization"))
            )
            # Ended sessions stop here at once (ADR 0104); so does any person's token
            # issued without a second factor, whatever its roles say (ADR 0103).
            gateway.revocations.refuse_if_revoked(caller)
            caller.require_second_factor("your sign-in")
        except Unauthenticated as exc:
            # Refusals are security signals (token guessing, stolen tokens): log them with
            # the address and request id, never the token itself.
            log.info(
                "token refused from %s: %s",
                address,
                exc.detail,
                extra={"request_id": getattr(request.state, "request_id", None)},
            )
            raise
        request.state.caller = caller
        decision = gateway.users.take(f"{caller.tenant_id}/{caller.user_id}")
        if not decision.allowed:
            return _too_many(request, decision, "user")

    limit = settings.body_limit(service, upstream_path)
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return _too_large(request, limit)
        except ValueError:
            return problem(400, "bad-request", "Bad request", "bad Content-Length", request)
    has_body = declared not in (None, "0") or "transfer-encoding" in request.headers

    headers = upstream_request_headers(
        request.headers.items(),
        request_id=getattr(request.state, "request_id", "") or "",
        client=address,
        host=request.headers.get("host"),
        scheme=request.url.scheme,
    )
    query = request.scope.get("query_string", b"").decode("latin-1")
    content = _limited_body(request, limit) if has_body else None
    try:
        upstream = await _send_to_an_instance(
            gateway, request.method, bases, upstream_path, query, headers, content
        )
    except BodyTooLarge:
        return _too_large(request, limit)
    except httpx.TimeoutException as exc:
        log.warning("upstream %s timed out: %r", service, exc)
        return problem(
            504,
            "upstream-timeout",
            "The service did not answer in time",
            f"{service} did not answer in time",
            request,
            service=service,
        )
    except httpx.TransportError as exc:
        log.warning("upstream %s unreachable: %r", service, exc)
        return problem(
            503,
            "upstream-unavailable",
            "The service is not reachable",
            f"{service} is not reachable right now; try again shortly",
            request,
            headers={"Retry-After": "5"},
            service=service,
        )
    response = StreamingResponse(
        _relay(upstream, service),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    # Raw pairs, not a dict: repeated headers (Set-Cookie) must all arrive.
    response.raw_headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in downstream_response_headers(upstream.headers.multi_items())
    ]
    return response


@router.api_route("/console", methods=METHODS, include_in_schema=False)
@router.api_route("/console/{path:path}", methods=METHODS, include_in_schema=False)
async def forward_console(request: Request) -> Response:
    """The staff web console, on this one origin. No token check here: the console holds
    each person's tokens server-side and every API call it makes comes back through
    ``/api`` with that token, where it is verified like any other."""
    gateway = gateway_of(request)
    settings = gateway.settings
    if not settings.console_upstream:
        return problem(404, "not-found", "Not found", "no web console is configured", request)
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)
    decision = gateway.addresses.take(address)
    if not decision.allowed:
        return _too_many(request, decision, "client address")
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    if any(unquote(segment) in {".", ".."} for segment in raw_path.split("/")):
        return problem(400, "bad-request", "Bad request", "dot segments are not allowed", request)
    # The console's document upload takes a file; every other console form is small.
    limit = settings.body_limit("console", request.url.path.removeprefix(CONSOLE_PREFIX))
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return _too_large(request, limit)
        except ValueError:
            return problem(400, "bad-request", "Bad request", "bad Content-Length", request)
    has_body = declared not in (None, "0") or "transfer-encoding" in request.headers
    headers = upstream_request_headers(
        request.headers.items(),
        request_id=getattr(request.state, "request_id", "") or "",
        client=address,
        host=request.headers.get("host"),
        scheme=request.url.scheme,
    )
    query = request.scope.get("query_string", b"").decode("latin-1")
    content = _limited_body(request, limit) if has_body else None
    try:
        upstream = await _send_to_an_instance(
            gateway, request.method, [settings.console_upstream], raw_path, query, headers, content
        )
    except BodyTooLarge:
        return _too_large(request, limit)
    except httpx.HTTPError as exc:
        log.warning("console unreachable: %r", exc)
        return problem(
            503,
            "upstream-unavailable",
            "The console is not reachable",
            "the web console is not reachable right now; try again shortly",
            request,
            headers={"Retry-After": "5"},
            service="console",
        )
    response = StreamingResponse(
        _relay(upstream, "console"),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in downstream_response_headers(upstream.headers.multi_items())
    ]
    return response


async def _relay(upstream: httpx.Response, service: str) -> AsyncIterator[bytes]:
    """The upstream's bytes as they come (still encoded: Content-Length stays true)."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # Headers are already sent; all we can do is cut the response short and say why.
        log.warning("upstream %s broke off its response: %r", service, exc)
        raise


async def _send_to_an_instance(
    gateway: Any,
    method: str,
    bases: list[str],
    path: str,
    query: str,
    headers: Any,
    content: Any,
) -> httpx.Response:
    """Send to the first instance that accepts the connection.

    A refused connection means nothing was sent (the body generator has not started),
    so trying the next instance is safe even for POSTs; any later error is final.
    """
    for attempt, base in enumerate(bases):
        url = f"{base}{path}" + (f"?{query}" if query else "")
        upstream_request = gateway.http.build_request(method, url, headers=headers, content=content)
        try:
            response: httpx.Response = await gateway.http.send(upstream_request, stream=True)
            return response
        except httpx.ConnectError:
            if attempt == len(bases) - 1:
                raise
            log.warning("instance %s refused the connection; trying the next one", base)
    raise RuntimeError("no upstream instances")  # unreachable: bases is never empty
