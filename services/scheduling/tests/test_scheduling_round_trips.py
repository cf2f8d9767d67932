"""Round-trip budgets of scheduling's core actions (docs/services/scheduling.md).

The service runs as its own process with HALCYON_COUNT_ROUND_TRIPS=1 and reports each
request's database commands (PyMongo command monitoring) and Kafka sends; booking and
checking in must stay within the budget its docs state. A booking's slot claims are one
bulk write whatever the appointment's length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time

import pytest
import pytest_asyncio
from halcyon.shared.mongo import Document
from halcyon.shared.testing.roundtrips import assert_within_budget, cost_of
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

# The tests dir is not on mypy_path (root pyproject); pytest imports it (rootdir mode).
from test_scheduling_booking import World, next_weekday, running  # type: ignore[import-not-found]

from tests.fixtures import StartService

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def counted(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[World]:
    async with running(
        start_service,
        servers,
        token_issuer,
        topic_prefix,
        unique,
        mongo_client,
        HALCYON_COUNT_ROUND_TRIPS="1",
    ) as w:
        await w.site()
        await w.staff("ana")
        await w.client("c1")
        await w.client("c2")
        yield w


async def test_book_and_check_in(counted: World) -> None:
    office = await counted.room("Office", ["office"])
    start = next_weekday(2, time(9, 0))
    warm = await counted.book("c2", "psychotherapy", start.replace(hour=13), ["ana"], office)
    assert warm.status_code == 201, warm.text  # the first booking may fill caches

    booked = await counted.book("c1", "psychotherapy", start, ["ana"], office)
    assert booked.status_code == 201, booked.text
    cost = assert_within_budget("scheduling", "book", booked)
    # The claims (client, clinician and room for 53 minutes: 5 blocks each) go in one
    # insert: the appointment, its claims and the access audit are three inserts in all
    assert "insert:3" in cost.by_command.split(","), cost

    checked_in = await counted.post(f"/appointments/{booked.json()['id']}/check-in")
    assert checked_in.status_code == 200, checked_in.text
    assert_within_budget("scheduling", "check in", checked_in)
    assert cost_of(checked_in).kafka_sends >= 1  # AppointmentChanged
