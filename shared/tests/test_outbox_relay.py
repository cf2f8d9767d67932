"""The outbox relay on the real MongoDB-wire server, with a recording publisher.

A write wakes the relay for its own collection: it looks there (one query), not in every
collection of the service, so an event does not wait behind dozens of empty queries
(clinical has 25 with `outbox`). The timed sweep of every collection still finds what a
write in another process left, and nothing is lost or sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from halcyon.shared import outbox
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.events import ServiceEvents
from halcyon.shared.mongo import OUTBOX_PENDING_FIELD, Document, OutboxWriter, TenantRepository
from halcyon.shared.outbox import OutboxRelay
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration

COLLECTIONS = [f"c{i:02d}" for i in range(20)]
EVENTS = ServiceEvents("relaytest")


def repository(name: str, database: AsyncDatabase[Document]) -> TenantRepository:
    cls: type[TenantRepository] = type(
        f"Repo_{name}", (TenantRepository,), {"collection_name": name}
    )
    return cls(database, OutboxWriter())


def registered(client_id: str) -> ClientRegistered:
    return ClientRegistered.model_validate(
        {
            "client_id": client_id,
            "home_site_id": "site-1",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "1990-01-01",
        }
    )


class Recorder:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.sent = asyncio.Event()

    async def __call__(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        self.keys.append(key)
        self.sent.set()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        await relay.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(recorder: Recorder, count: int, within_s: float = 10) -> None:
    async def enough() -> None:
        while len(recorder.keys) < count:
            recorder.sent.clear()
            await recorder.sent.wait()

    await asyncio.wait_for(enough(), within_s)


async def test_a_write_wakes_the_relay_for_its_own_collection_only(
    mongo_client: AsyncMongoClient[Document], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = mongo_client[f"relay_{unique}"]
    recorder = Recorder()
    # No timed sweep during the test: only the writes' wake-ups query the outbox.
    monkeypatch.setattr(outbox, "IDLE_POLL_MAX_SECONDS", 600.0)
    relay = OutboxRelay(database, COLLECTIONS, recorder, service_name=unique, poll_seconds=300)
    repos = {name: repository(name, database) for name in COLLECTIONS}
    for repo in repos.values():
        repo.notify_on_events(relay.wake)
        await repo.ensure_indexes()
    async with running(relay):
        for _ in range(200):  # the first pass sweeps every collection
            if relay.finds >= len(COLLECTIONS):
                break
            await asyncio.sleep(0.05)
        swept = relay.finds
        assert swept == len(COLLECTIONS)
        for i in range(5):
            event = EVENTS.event(registered(f"cl-{i}"), tenant_id="t1")
            await repos["c17"].insert("t1", {"_id": f"cl-{i}"}, [event])
            await wait_for(recorder, i + 1)
        # One query per wake-up (a wake during a drain may add one more), not 20.
        assert relay.finds - swept <= 2 * 5
        # Removed from the outbox once sent (the removal follows the publish).
        for _ in range(100):
            if not await database["c17"].count_documents({OUTBOX_PENDING_FIELD: True}):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("sent events stayed in the outbox")
    assert recorder.keys == [f"cl-{i}" for i in range(5)]


async def test_the_sweep_finds_events_no_wake_up_announced(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    database = mongo_client[f"relay_{unique}"]
    recorder = Recorder()
    relay = OutboxRelay(database, COLLECTIONS, recorder, service_name=unique, poll_seconds=0.05)
    writer = repository("c03", database)  # as another instance would: nobody wakes this relay
    await writer.ensure_indexes()
    async with running(relay):
        await asyncio.sleep(0.2)
        for i in range(3):
            event = EVENTS.event(registered(f"other-{i}"), tenant_id="t1")
            await writer.insert("t1", {"_id": f"other-{i}"}, [event])
        await wait_for(recorder, 3)
        await asyncio.sleep(0.3)  # later sweeps send nothing twice
    assert sorted(recorder.keys) == [f"other-{i}" for i in range(3)]
