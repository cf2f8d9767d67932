"""The outbox relay: publishes events that writes left in documents' ``_outbox``.

A write puts its events in the same document it changes (see ``mongo.py``), so
an accepted request never loses its events, even if Kafka is down. This relay
publishes them in order with the idempotent producer, then removes them with a
compare-and-set on ``_outbox_version`` (FerretDB and MongoDB both support it).

Only one relay per service publishes at a time: it holds a lease document that
it renews; another instance takes over when the lease expires. A crash between
publish and removal re-publishes, which consumers drop as duplicates.

The request's trace context was stored with each event; the relay restores it
so the Kafka hop stays in the trace of the request that caused it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from halcyon.shared.mongo import (
    OUTBOX_FIELD,
    OUTBOX_PENDING_FIELD,
    OUTBOX_VERSION_FIELD,
    Document,
)
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagate import extract
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

log = logging.getLogger("halcyon.outbox")
IDLE_POLL_MAX_SECONDS = 2.0
tracer = trace.get_tracer("halcyon.outbox")

# publish(topic, key, value, headers) -> None; raises when the broker did not take it.
Publish = Callable[[str, str, bytes, dict[str, str]], Awaitable[None]]


class Lease:
    """A named lease in Mongo: who may run a once-per-service background job now."""

    def __init__(self, database: AsyncDatabase[Document], name: str, ttl_seconds: float = 10.0):
        self._leases: AsyncCollection[Document] = database["leases"]
        self.name = name
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.ttl = timedelta(seconds=ttl_seconds)
        self._held_until: datetime | None = None  # the expiry this holder last wrote

    async def acquire(self) -> bool:
        now = datetime.now(UTC)
        # Renew only when half the lease has gone: until it expires nobody else can take
        # it, and the relay asks before every drain, so a write each time would put a
        # database round trip (behind its write lock) in front of every event.
        if self._held_until is not None and now < self._held_until - self.ttl / 2:
            return True
        try:
            doc = await self._leases.find_one_and_update(
                {"_id": self.name, "$or": [{"holder": self.holder}, {"expires_at": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires_at": now + self.ttl}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._held_until = None
            return False  # someone else holds a live lease (the upsert raced with it)
        del doc
        self._held_until = now + self.ttl
        return True

    async def release(self) -> None:
        self._held_until = None
        await self._leases.delete_one({"_id": self.name, "holder": self.holder})


class OutboxRelay:
    def __init__(
        self,
        database: AsyncDatabase[Document],
        collections: Sequence[str],
        publish: Publish,
        *,
        service_name: str,
        poll_seconds: float = 0.2,
        batch_size: int = 100,
    ) -> None:
        self._database = database
        self._collections = list(dict.fromkeys(collections))
        self._publish = publish
        self._poll = poll_seconds
        self._batch = batch_size
        self._wake = asyncio.Event()
        # Collections a write in this process just left events in, in the order first
        # written (an ordered set): a wake-up drains only these (one find each), not
        # every collection of the service. A sweep of every collection still runs on
        # each poll, for events other instances wrote or ones left from before a restart.
        self._dirty: dict[str, None] = {}
        self._sweep = True  # the first pass looks everywhere
        self._lease = Lease(database, f"outbox-relay:{service_name}")
        self._stopping = False
        self.published = 0
        self.finds = 0  # outbox queries so far (tests count them)

    def wake(self, collection: str | None = None) -> None:
        """Events are waiting in ``collection`` (or somewhere, if not named)."""
        if collection is None or collection not in self._collections:
            self._sweep = True
        else:
            self._dirty.setdefault(collection)
        self._wake.set()

    async def run(self) -> None:
        backoff = self._poll
        while not self._stopping:
            # Clear before draining: a write that lands during the drain sets it again,
            # so its wake-up is not lost (clearing after would wait a whole poll).
            self._wake.clear()
            sweep, self._sweep = self._sweep, False
            try:
                # Polling is not anybody's request: keep it out of the traces. Each
                # publish below re-attaches the trace of the request that caused it.
                with suppress_instrumentation():
                    leader = await self._lease.acquire()
                    if not leader:
                        # The leader's own sweep finds what this instance wrote.
                        self._dirty.clear()
                        moved = 0
                    elif sweep:
                        moved = await self.drain_once()
                    else:
                        moved = await self._drain_dirty()
                if leader and (self._dirty or self._sweep):
                    continue  # written meanwhile, or a batch was full: more is waiting
                if leader and moved:
                    backoff = self._poll
                # Idle (or not the leader): poll less and less often, up to 2 s. Writes in
                # this process wake the relay at once; the poll only catches events other
                # instances wrote, or ones left from before a restart.
                backoff = min(max(backoff, self._poll) * 2, IDLE_POLL_MAX_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:  # broker or database down: keep the events, try again later
                log.warning("outbox relay could not publish; will retry", exc_info=True)
                self._sweep = True  # whatever was not sent is found by the next sweep
                backoff = min(backoff * 2, 5.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                self._sweep = True  # the poll: look in every collection

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        try:
            await self._lease.release()
        except PyMongoError:
            log.warning("could not release the outbox lease", exc_info=True)

    async def drain_once(self) -> int:
        """Publish what is pending now in every collection; returns how many events went out."""
        total = 0
        for name in self._collections:
            # A write that woke the relay during the sweep goes first: the sweep is one
            # query per collection (dozens for some services), the write waits for none.
            total += await self._drain_dirty()
            self._dirty.pop(name, None)  # this collection is looked at right now
            total += await self._drain_collection(name)
        return total + await self._drain_dirty()

    async def _drain_dirty(self) -> int:
        total = 0
        while self._dirty:
            name = next(iter(self._dirty))
            del self._dirty[name]
            total += await self._drain_collection(name)
        return total

    async def _drain_collection(self, name: str) -> int:
        collection = self._database[name]
        self.finds += 1
        cursor = collection.find(
            {OUTBOX_PENDING_FIELD: True},
            projection={OUTBOX_FIELD: 1, OUTBOX_VERSION_FIELD: 1},
            limit=self._batch,
        )
        docs = [doc async for doc in cursor]
        if len(docs) >= self._batch:
            self._dirty.setdefault(name)  # a full batch: there may be more behind it
        # Documents are independent aggregates: relay them concurrently so the
        # producer can batch; each document's own events still go out in order.
        sent = sum(await asyncio.gather(*(self._relay_document(collection, d) for d in docs)))
        self.published += sent
        return sent

    async def _relay_document(self, collection: AsyncCollection[Document], doc: Document) -> int:
        events: list[Document] = list(doc.get(OUTBOX_FIELD) or [])  # in write order
        for event in events:
            await self._publish_one(event)
        sent = {e["id"] for e in events}
        # Remove exactly what was sent; a concurrent write may have appended more.
        version = doc.get(OUTBOX_VERSION_FIELD)
        while True:
            remaining = [e for e in (doc.get(OUTBOX_FIELD) or []) if e["id"] not in sent]
            result = await collection.update_one(
                {"_id": doc["_id"], OUTBOX_VERSION_FIELD: version},
                {
                    "$set": {
                        OUTBOX_FIELD: remaining,
                        OUTBOX_PENDING_FIELD: bool(remaining),
                        OUTBOX_VERSION_FIELD: (version or 0) + 1,
                    }
                },
            )
            if result.matched_count:
                return len(events)
            fresh = await collection.find_one(
                {"_id": doc["_id"]}, projection={OUTBOX_FIELD: 1, OUTBOX_VERSION_FIELD: 1}
            )
            if fresh is None:
                return len(events)
            doc, version = fresh, fresh.get(OUTBOX_VERSION_FIELD)

    async def _publish_one(self, event: Document) -> None:
        envelope: dict[str, Any] = event["envelope"]
        parent = extract(event.get("trace") or {}, context=Context())
        token = otel_context.attach(parent)
        try:
            with tracer.start_as_current_span(
                f"outbox relay {envelope['type']}",
                kind=trace.SpanKind.INTERNAL,
                attributes={
                    "messaging.message.id": envelope["id"],
                    "halcyon.topic": event["topic"],
                },
            ):
                value = json.dumps(envelope, separators=(",", ":")).encode()
                headers = {
                    "content-type": "application/cloudevents+json",
                    "ce_id": envelope["id"],
                    "ce_type": envelope["type"],
                    "ce_tenantid": envelope["tenantid"],
                }
                await self._publish(event["topic"], event["key"], value, headers)
        finally:
            otel_context.detach(token)
