"""Nothing accepted is lost when the broker is down and the service that accepted it dies.

Needs the project's own launcher (it stops and starts the real Kafka broker), so it is
skipped when the servers come from the environment or from testcontainers.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService
from tests.platform.test_delivery_guarantees import PROBE, tally

pytestmark = pytest.mark.integration


def launcher(servers: Servers, command: str) -> None:
    assert servers.launcher is not None
    subprocess.run(["bash", str(servers.launcher), command], check=True, capture_output=True)


async def test_requests_accepted_while_kafka_is_down_are_delivered_after_it_returns(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    unique: str,
) -> None:
    if servers.launcher is None:
        pytest.skip("needs deploy/local/servers.sh to stop and start the broker")
    tenant = f"agency-{unique}"
    clinical = start_service("clinical")
    probe = start_service("probe", app=PROBE)
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")])
    body = {
        "given_name": "Ida",
        "family_name": "Tarbell",
        "date_of_birth": "1970-11-05",
        "home_site_id": "site-1",
    }
    launcher(servers, "stop-kafka")
    try:
        async with httpx.AsyncClient(base_url=clinical.url, timeout=30) as http:
            accepted = [(await http.post("/clients", json=body, headers=headers)) for _ in range(3)]
        assert [r.status_code for r in accepted] == [201, 201, 201]
        # The service that accepted them dies before it could publish anything.
        clinical.kill()
    finally:
        launcher(servers, "start-kafka")
    clinical.start().wait_ready()

    ids = [r.json()["id"] for r in accepted]

    async def all_delivered_once() -> bool:
        return [await tally(probe.url, tenant, i) for i in ids] == [1, 1, 1]

    await eventually(all_delivered_once, within=90, message="accepted events delivered once")
