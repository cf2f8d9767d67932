"""Round-trip budget of a dispense (docs/services/inventory.md).

The service runs as its own process with HALCYON_COUNT_ROUND_TRIPS=1 and reports each
request's database commands (PyMongo command monitoring) and Kafka sends; a dispense
must stay within the budget its docs state.
"""

from __future__ import annotations

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.roundtrips import assert_within_budget
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import Agency, appointment
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_dispense(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    inventory = start_service("inventory", HALCYON_COUNT_ROUND_TRIPS="1")
    agency = Agency(
        inventory.url,
        servers.kafka_bootstrap,
        topic_prefix,
        f"t_{unique}_inventory",
        token_issuer,
        mongo_client,
    )
    async with httpx.AsyncClient(base_url=inventory.url, timeout=60) as http:
        await agency.set_up(http, stock_mg=800)
        appointments = [f"appt-{unique}-{i}" for i in range(2)]
        await agency.announce(
            [
                appointment(a, agency.site, f"client-{i}", [agency.nurse])
                for i, a in enumerate(appointments)
            ]
        )
        await agency.wait_for("appointments", 2)

        responses = [
            await http.post("/dispenses", json=agency.dose(a), headers=agency.as_nurse)
            for a in appointments  # the first may fill the ledger head's cache
        ]
        assert [r.status_code for r in responses] == [201, 201], responses[-1].text
        assert_within_budget("inventory", "dispense", responses[-1])
