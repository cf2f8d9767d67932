"""Several workers racing for the same due reminder and delivery: each acts exactly once.

Real FerretDB (the conditional single-document claim is what is under test); the email
channel is a counting stand-in so the number of sends can be asserted exactly.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from halcyon.notifications.clock import ServiceClock
from halcyon.notifications.parts import NotificationsRuntime
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.store import REPOSITORIES, ClientContacts, Deliveries, Reminders
from halcyon.notifications.usecases.delivery import DeliveryWorker
from halcyon.notifications.usecases.notifier import Notifier
from halcyon.shared.mongo import Document, OutboxWriter
from halcyon.shared.service import ServiceRuntime
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration
TENANT = "agency-claims"


class CountingEmail:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(
        self, *, to: str, subject: str, text: str, html: str | None, delivery_id: str
    ) -> str:
        await asyncio.sleep(0.05)  # widen the race window
        self.sent.append(delivery_id)
        return f"<{delivery_id}@test>"


async def test_racing_workers_fire_a_reminder_and_send_its_email_once(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    database = mongo_client[f"t_{unique}_notifications_claims"]
    settings = NotificationsSettings(environment="test", database_name=database.name)
    runtime: NotificationsRuntime = ServiceRuntime(
        settings=settings,
        database=database,
        consumer=cast(Any, None),
        relay=cast(Any, None),
        audit=cast(Any, None),
    )
    for cls in REPOSITORIES:
        repo = cls(database, OutboxWriter(f"t{unique}."))
        await repo.ensure_indexes()
        runtime.repositories[cls] = repo
    email = CountingEmail()
    workers = []
    for _ in range(5):
        notifier = Notifier(runtime, settings, ServiceClock(database, controllable=True))
        worker = DeliveryWorker(runtime, settings, notifier)
        worker.email = cast(Any, email)
        workers.append(worker)

    await runtime.repo(ClientContacts).insert(
        TENANT,
        {
            "_id": "client-1",
            "given_name": "Robin",
            "home_site_id": "site-1",
            "email": "robin@example.test",
            "timezone": "America/Denver",
        },
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=23)
    await runtime.repo(Reminders).insert(
        TENANT,
        {
            "_id": "appt-1:24h",
            "appointment_id": "appt-1",
            "client_id": "client-1",
            "kind": "24h",
            "due_at": starts - timedelta(hours=24),
            "starts_at": starts,
            "site_id": "site-1",
            "site_timezone": "America/Denver",
            "appointment_type": "mdma_dosing",
            "appointment_version": 1,
            "status": "scheduled",
        },
    )

    fired = await asyncio.gather(*(w.fire_due_reminders() for w in workers))
    assert sum(fired) == 1
    assert (await runtime.repo(Reminders).get(TENANT, "appt-1:24h") or {})["status"] == "sent"
    assert await runtime.repo(Deliveries).count(TENANT, {}) == 1

    sent = await asyncio.gather(*(w.send_due_deliveries() for w in workers))
    assert sum(sent) == 1
    assert len(email.sent) == 1
    [delivery] = await runtime.repo(Deliveries).find(TENANT, {})
    assert delivery["status"] == "sent"
    assert delivery["attempts"] == 1

    # Nothing is due any more: another round by every worker sends nothing.
    await asyncio.gather(*(w.tick() for w in workers))
    assert len(email.sent) == 1
    await mongo_client.drop_database(database.name)
