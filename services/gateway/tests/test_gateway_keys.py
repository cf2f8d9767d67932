"""The gateway keeps verifying tokens while identity's key endpoint is away, and says
"unavailable" (503), not "sign in again" (401), when it has never seen the keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from halcyon.gateway.keys import GatewayAuthenticator
from halcyon.shared.errors import Unauthenticated, Unavailable
from halcyon.shared.testing.processes import free_port
from halcyon.shared.testing.tokens import TestTokenIssuer


def _serve(directory: Path, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=sink,
        stderr=sink,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/jwks.json", timeout=1.0)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise TimeoutError("JWKS server did not start")


async def test_known_keys_keep_working_while_identity_is_unreachable(tmp_path: Path) -> None:
    issuer = TestTokenIssuer()
    (tmp_path / "jwks.json").write_text(json.dumps(issuer.jwks()))
    port = free_port()
    server = _serve(tmp_path, port)
    verifier = GatewayAuthenticator(
        audience="halcyon",
        issuer="halcyon-identity",
        jwks_url=f"http://127.0.0.1:{port}/jwks.json",
        jwks_ttl_seconds=0.0,  # refetch every time: the outage is noticed at once
        retry_after_failure_seconds=0.0,
    )
    try:
        caller = await verifier.verify(issuer.mint(tenant_id="agency-a", user_id="ana"))
        assert caller.user_id == "ana"
    finally:
        server.kill()
        server.wait(timeout=10)
    # Identity is gone: a valid token still verifies with the key already known...
    caller = await verifier.verify(issuer.mint(tenant_id="agency-a", user_id="ana"))
    assert caller.tenant_id == "agency-a"
    # ...and a forged one is still refused.
    with pytest.raises(Unauthenticated):
        await verifier.verify(TestTokenIssuer(kid=issuer.kid).mint(tenant_id="agency-a"))


async def test_without_any_keys_the_answer_is_unavailable_not_unauthenticated() -> None:
    verifier = GatewayAuthenticator(
        audience="halcyon",
        issuer="halcyon-identity",
        jwks_url=f"http://127.0.0.1:{free_port()}/jwks.json",
    )
    with pytest.raises(Unavailable):
        await verifier.verify(TestTokenIssuer().mint(tenant_id="agency-a"))


async def test_junk_key_ids_cannot_make_the_gateway_hammer_identity(tmp_path: Path) -> None:
    issuer = TestTokenIssuer()
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "jwks.json").write_text(json.dumps(issuer.jwks()))
    port = free_port()
    log = tmp_path / "jwks.log"
    server = _serve(keys, port, log)

    def fetches() -> int:
        return sum("GET /jwks.json" in line for line in log.read_text().splitlines())

    before = fetches()  # the start-up probe's
    verifier = GatewayAuthenticator(
        audience="halcyon",
        issuer="halcyon-identity",
        jwks_url=f"http://127.0.0.1:{port}/jwks.json",
        forced_refresh_interval_seconds=600.0,
    )
    try:
        await verifier.verify(issuer.mint(tenant_id="agency-a"))
        for n in range(5):
            with pytest.raises(Unauthenticated):
                await verifier.verify(TestTokenIssuer(kid=f"junk-{n}").mint(tenant_id="agency-a"))
        # The first fetch, then one refetch for the first unknown key id; not one per token.
        assert fetches() - before == 2
    finally:
        server.kill()
        server.wait(timeout=10)
