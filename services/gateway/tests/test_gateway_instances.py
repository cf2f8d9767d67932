"""Several instances of one service behind the gateway: load spreads, a dead one is skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import free_port
from halcyon.shared.testing.spans import read_spans
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_requests_spread_over_instances_and_skip_a_killed_one(
    start_service: StartService, token_issuer: TestTokenIssuer, tmp_path: Path, unique: str
) -> None:
    keys = tmp_path / "jwks" / ".well-known"
    keys.mkdir(parents=True)
    (keys / "jwks.json").write_text(json.dumps(token_issuer.jwks()))
    port = free_port()
    jwks = subprocess.Popen(  # noqa: ASYNC220 - a static file server, started once
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path / "jwks",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = start_service("clinical")
        second = start_service("clinical")
        gateway = start_service(
            "gateway",
            HALCYON_GATEWAY_UPSTREAMS=json.dumps(
                {
                    "clinical": f"{first.url},{second.url}",
                    "identity": f"http://127.0.0.1:{port}",
                }
            ),
            HALCYON_GATEWAY_REQUIRED_UPSTREAMS='["clinical"]',
            HALCYON_JWT_PUBLIC_KEY="",
        )
        headers = token_issuer.headers(
            tenant_id=f"agency-{unique}", roles=[("site-1", "front_desk")]
        )
        body = {
            "given_name": "Mae",
            "family_name": "Jemison",
            "date_of_birth": "1956-10-17",
            "home_site_id": "site-1",
        }
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            for _ in range(10):
                r = await http.post("/api/clinical/clients", json=body, headers=headers)
                assert r.status_code == 201, r.text

            def served_by() -> Counter[str]:
                return Counter(
                    s["instance"]
                    for s in read_spans(tmp_path / "spans.jsonl")
                    if s["service"] == "clinical"
                    and s["kind"] == "SERVER"
                    and s["name"].startswith("POST /clients")
                )

            async def both_served() -> Counter[str] | None:
                counts = served_by()
                return counts if sum(counts.values()) == 10 else None

            counts = await eventually(both_served, message="clinical spans for 10 requests")
            assert len(counts) == 2, counts  # round robin
            assert set(counts.values()) == {5}, counts

            second.kill()
            statuses = [
                (await http.post("/api/clinical/clients", json=body, headers=headers)).status_code
                for _ in range(6)
            ]
        assert statuses == [201] * 6  # the dead instance is skipped, nothing fails
        # The event catalogue partners read is served by the gateway, without a token.
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            catalogue = (await http.get("/asyncapi.json")).json()
            page = await http.get("/events")
        assert catalogue["asyncapi"] == "3.0.0"
        assert (
            "partner.registry.dose.v1:halcyon.partner.registry_dose.reported.v1"
            in (catalogue["channels"])
        )
        assert page.status_code == 200
        assert "partner.registry.dose.v1" in page.text
    finally:
        jwks.kill()
        jwks.wait(timeout=10)
