"""The web console on the gateway's one origin: /console is forwarded without a token
check, the console's cookie and redirects reach the browser, /api still needs a token,
and the console's pages get a CSP that lets its own script run (and nothing else).

Real processes: the console and the gateway (the console is the upstream here)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_console_is_served_through_the_gateway_without_a_token(
    start_service: StartService,
) -> None:
    # Nothing here makes the console call the API, so its gateway URL is never used.
    console = start_service("console", HALCYON_CONSOLE_GATEWAY_URL="http://127.0.0.1:9")
    # No real upstream services: only the console route is exercised here.
    gateway = start_service(
        "gateway",
        HALCYON_GATEWAY_UPSTREAMS=json.dumps({"clinical": "http://127.0.0.1:9"}),
        HALCYON_GATEWAY_CONSOLE_UPSTREAM=console.url,
        HALCYON_GATEWAY_REQUIRED_UPSTREAMS="[]",
    )
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        page = await http.get("/console/sign-in")
        assert page.status_code == 200, page.text
        assert "<form" in page.text
        assert 'for="f-email"' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["cache-control"] == "no-store"
        script = await http.get("/console/static/htmx.min.js")
        assert script.status_code == 200
        assert "htmx" in script.text[:2000]
        # Not signed in: the console (not the gateway) answers, with a redirect.
        calendar = await http.get("/console/calendar")
        assert calendar.status_code == 303
        assert calendar.headers["location"] == "/console/sign-in"
        # The console route does not open the API: that still needs a token.
        api = await http.get("/api/clinical/clients")
        assert api.status_code == 401
        assert api.headers["content-security-policy"].startswith("default-src 'none'")
        climbing = await http.get("/console/%2e%2e/api/clinical/clients")
        assert climbing.status_code == 400


async def test_without_a_console_upstream_there_is_no_console(
    start_service: StartService,
) -> None:
    gateway = start_service(
        "gateway",
        HALCYON_GATEWAY_UPSTREAMS=json.dumps({"clinical": "http://127.0.0.1:9"}),
        HALCYON_GATEWAY_REQUIRED_UPSTREAMS="[]",
    )
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        response = await http.get("/console")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
