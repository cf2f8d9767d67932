"""Break-the-glass opens a client's clinical chart for reading (ADR 0102), never their
billing: a grant for the client does not let a clinician or a biller of another site read
the ledger, coverages or charges, and the attempt is on the access audit."""

from __future__ import annotations

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import client_registered, publish, wrap
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_a_break_the_glass_grant_does_not_open_billing(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id = f"cl-btg-{unique}"
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}clinical.client.v1",
        wrap(client_registered(client_id, site="site-2"), tenant),
    )
    home = token_issuer.headers(tenant_id=tenant, roles=[("site-2", "biller")])
    granted = token_issuer.headers(
        tenant_id=tenant,
        user_id="ther-btg",
        roles=[("site-1", "therapist"), ("site-3", "biller")],
        btg=[client_id],
    )
    async with httpx.AsyncClient(base_url=billing.url, timeout=60) as http:

        async def client_known() -> bool:
            got = await http.get(f"/clients/{client_id}/ledger", headers=home)
            return got.status_code == 200

        await eventually(client_known, within=90, message="client read model")
        for path in ("ledger", "coverages", "charges"):
            got = await http.get(f"/clients/{client_id}/{path}", headers=granted)
            assert got.status_code == 403, (path, got.text)
