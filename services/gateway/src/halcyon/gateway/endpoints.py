"""The gateway's own endpoints: health, readiness, merged OpenAPI, Swagger UI, event catalogue."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from halcyon.gateway.domain.openapi import merge_openapi
from halcyon.gateway.runtime import GatewayRuntime, gateway_of
from halcyon.shared.catalogue import build_asyncapi, catalogue_html, catalogue_markdown
from halcyon.shared.http.guard import InputLimits
from halcyon.shared.http.openapi import truthful_openapi
from halcyon.shared.http.problems import problem

router = APIRouter(tags=["gateway"])


@router.get("/healthz", summary="The gateway process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(gateway: GatewayRuntime, url: str) -> str:
    try:
        response = await gateway.http.get(url, timeout=gateway.settings.readiness_timeout_seconds)
    except httpx.HTTPError as exc:
        return f"unreachable: {type(exc).__name__}"
    if response.status_code == 200:
        return "ok"
    return f"not ready: HTTP {response.status_code}"


@router.get(
    "/readyz",
    summary="Every required service is ready and the token keys can be fetched",
    responses={503: {"description": "Some service is not ready (listed in checks)"}},
)
async def readyz(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    settings = gateway.settings
    targets = {n: f"{settings.base_url(n)}/readyz" for n in settings.readiness_upstreams()}
    if settings.jwks_url:
        # Without the keys no token verifies: that is as bad as a service being down.
        targets["token-keys"] = settings.jwks_url
    names = list(targets)
    results = await asyncio.gather(*(_check(gateway, targets[n]) for n in names))
    checks = dict(zip(names, results, strict=True))
    if all(result == "ok" for result in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    down = sorted(name for name, result in checks.items() if result != "ok")
    return problem(
        503,
        "not-ready",
        "Not ready",
        f"not ready: {', '.join(down)}",
        request,
        checks=checks,
    )


async def _fetch_openapi(gateway: GatewayRuntime, base: str) -> dict[str, Any] | None:
    try:
        response = await gateway.http.get(
            f"{base}/openapi.json", timeout=gateway.settings.readiness_timeout_seconds
        )
        if response.status_code != 200:
            return None
        document = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return document if isinstance(document, dict) else None


@router.get("/openapi.json", summary="One OpenAPI document for every service")
async def openapi(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    settings = gateway.settings
    cached = gateway.openapi_cache
    if cached and time.monotonic() - cached["at"] < settings.openapi_cache_seconds:
        return JSONResponse(cached["document"])
    names = sorted(settings.upstreams)
    fetched = await asyncio.gather(*(_fetch_openapi(gateway, settings.base_url(n)) for n in names))
    documents = {n: d for n, d in zip(names, fetched, strict=True) if d is not None}
    unavailable = [n for n, d in zip(names, fetched, strict=True) if d is None]
    base = get_openapi(
        title="Halcyon API",
        version=request.app.version,
        description=(
            "Every Halcyon service behind one gateway. Paths of service `x` live under "
            "`/api/x`; schemas are named `x.Name`. Send `Authorization: Bearer <token>` "
            "from identity's sign-in."
        ),
        routes=request.app.routes,
    )
    for item in base.get("paths", {}).values():
        for operation in item.values():
            operation["security"] = []  # the gateway's own endpoints need no token
    document = merge_openapi(
        base,
        documents,
        public_paths=settings.public_paths,
        unavailable=unavailable,
        hidden_paths=settings.operator_paths,
    )
    # The gateway's own answers (401, 413, 429, unknown paths) are problems too.
    document = truthful_openapi(document, max_string_chars=InputLimits().max_string_chars)
    if not unavailable:
        # Only a complete document is cached: a missing service should reappear soon.
        gateway.openapi_cache.update({"at": time.monotonic(), "document": document})
    return JSONResponse(document)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Halcyon API")


@router.get("/asyncapi.json", summary="The event catalogue (AsyncAPI 3.0) partners read")
async def asyncapi() -> JSONResponse:
    # Generated from the contract models the services themselves import, so it cannot
    # drift from what is published.
    return JSONResponse(build_asyncapi())


@router.get(
    "/events",
    summary="The event catalogue as a page partners read (HTML)",
    response_class=HTMLResponse,
)
async def events() -> HTMLResponse:
    # Self-contained (inline CSS, no scripts or CDN), so it renders behind any firewall.
    return HTMLResponse(catalogue_html())


class MarkdownResponse(PlainTextResponse):
    media_type = "text/markdown"


@router.get(
    "/events.md",
    summary="The event catalogue as Markdown (as in docs/events.md)",
    response_class=MarkdownResponse,
)
async def events_markdown() -> PlainTextResponse:
    return MarkdownResponse(catalogue_markdown())
