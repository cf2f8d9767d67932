"""Kafka through faststream: the broker factory and the idempotent consumer.

Delivery is at-least-once end to end. The producer is idempotent with
``acks=all``. Consumers commit an offset only after the event was applied (or
dead-lettered), drop events they already applied (``processed_events`` keyed by
event id, unique), retry failures with backoff, and after the last attempt
publish the message to ``<topic>.dlq`` with the error, then go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import traceback
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from halcyon.shared.contracts import EventContract, UnknownEventType
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import Document, create_indexes, note_kafka_sends
from halcyon.shared.settings import ServiceSettings
from opentelemetry import trace
from pydantic import ValidationError
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

log = logging.getLogger("halcyon.consumer")

C = TypeVar("C", bound=EventContract)


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=15_000,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        logger=logging.getLogger(f"halcyon.{settings.service_name}.broker"),
    )


def is_partner_topic(topic: str) -> bool:
    """``partner.<audience>.…`` (after any test or environment prefix)."""
    return "partner" in topic.split(".")[:-2]


class PartnerProducer:
    """A plain idempotent producer for partner topics: partners get exactly the documented
    CloudEvents headers (``content-type``, ``ce_id``, ``ce_type``, ``ce_tenantid``), none of
    the internal ``traceparent``/correlation headers the instrumented broker adds."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def send(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=15_000,
                )
                await producer.start()
                self._producer = producer
        await self._producer.send_and_wait(
            topic,
            value,
            key=key.encode(),
            headers=[(name, text.encode()) for name, text in headers.items()],
        )

    async def stop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None


def publisher_for(
    broker: KafkaBroker, partner: PartnerProducer | None = None
) -> Callable[[str, str, bytes, dict[str, str]], Awaitable[None]]:
    async def publish(topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        note_kafka_sends(1)  # counts only inside an action (the relay's sends count nowhere)
        if partner is not None and is_partner_topic(topic):
            await partner.send(topic, key, value, headers)
            return
        await broker.publish(value, topic=topic, key=key.encode(), headers=headers)

    return publish


@dataclass(frozen=True)
class Delivery:
    """What a handler gets besides the contract: the envelope and where it came from."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int


Handler = Callable[[Any, Delivery], Awaitable[None]]


class PoisonMessage(Exception):
    """A message no retry can fix (not JSON, not an envelope, wrong data): straight to DLQ."""


class EventConsumer:
    """Registers idempotent handlers for contracts and subscribes them on the broker.

    Usage::

        consumer = EventConsumer(broker, settings, database)

        @consumer.handles(ClientRegistered)
        async def client_registered(event: ClientRegistered, delivery: Delivery) -> None: ...

        consumer.subscribe()   # before broker.start()
    """

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        database: AsyncDatabase[Document],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._processed = database["processed_events"]
        self._handlers: dict[str, dict[str, tuple[type[EventContract], Handler]]] = defaultdict(
            dict
        )
        self._sleep = sleep
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0

    async def ensure_indexes(self) -> None:
        await create_indexes(self._processed, [IndexModel([("processed_at", ASCENDING)])])

    def handles(
        self, contract: type[C]
    ) -> Callable[[Callable[[C, Delivery], Awaitable[None]]], Handler]:
        def register(func: Callable[[C, Delivery], Awaitable[None]]) -> Handler:
            topic = self._settings.topic(contract.topic)
            self._handlers[topic][contract.event_type] = (contract, func)
            return func

        return register

    @property
    def topics(self) -> list[str]:
        return list(self._handlers)

    def subscribe(self) -> None:
        """One subscriber (one consumer in the group) for all of this service's topics.

        One consumer per topic would make each join trigger its own group rebalance
        (seconds each) at every start; one consumer joins once.
        """
        if not self._handlers:
            return
        self._broker.subscriber(
            *self._handlers,
            group_id=self._settings.consumer_group,
            auto_offset_reset="earliest",
            # We ack (commit) ourselves, only after applying or dead-lettering.
            ack_policy=AckPolicy.MANUAL,
            # Bounds the wait of an event behind its own partition's last fetch.
            fetch_max_wait_ms=self._settings.consumer_fetch_max_wait_ms,
        )(self._entrypoint())

    def _entrypoint(self) -> Callable[..., Awaitable[None]]:
        async def on_message(message: KafkaMessage) -> None:
            record: Any = message.raw_message  # one record: this subscriber is not batched
            topic = str(record.topic)
            try:
                marker = await self._apply(topic, message.body, record)
            except Exception:
                # Could not even dead-letter (broker/database down): do not commit;
                # seek back so the message is delivered again.
                log.exception("event not processed and not dead-lettered; will be redelivered")
                await asyncio.sleep(1.0)  # don't spin while the broker or database is away
                await message.nack()
                return
            if marker is None:
                await message.ack()
                return
            # Applied. The processed-marker (a redelivery is dropped) and the commit (no
            # redelivery) each make a second delivery harmless on their own, so they go
            # out together: one round trip's wait per event instead of two in a row.
            marked, committed = await asyncio.gather(
                self._mark_until_stored(marker), message.ack(), return_exceptions=True
            )
            if isinstance(committed, BaseException):
                raise committed
            if isinstance(marked, BaseException):
                raise marked

        on_message.__name__ = f"consume_{self._settings.service_name}_events"
        return on_message

    async def _mark_until_stored(self, marker: Document) -> None:
        """Store the processed-marker of an applied event, retrying while the database is
        away: the offset may be committed already, and a republished copy of the event
        (a relay crash) must still find the marker."""
        delay = self._settings.consumer_backoff_seconds
        while True:
            try:
                await self._mark(marker)
                return
            except PyMongoError:
                log.warning("could not store the processed-marker %s; retrying", marker["_id"])
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _mark(self, marker: Document) -> None:
        with contextlib.suppress(DuplicateKeyError):
            # A concurrent redelivery may have marked it; handlers are idempotent per document.
            await self._processed.insert_one(marker)

    async def process(self, topic: str, body: bytes, record: Any) -> None:
        """Apply (or dead-letter) one message and store its processed-marker."""
        marker = await self._apply(topic, body, record)
        if marker is not None:
            await self._mark(marker)

    async def _apply(self, topic: str, body: bytes, record: Any) -> Document | None:
        """Apply (or dead-letter, or skip) one message; the processed-marker to store when
        a handler applied it, else None."""
        partition = getattr(record, "partition", -1)
        offset = getattr(record, "offset", -1)
        try:
            envelope, contract, handler = self._decode(topic, body)
        except PoisonMessage as exc:
            await self._dead_letter(topic, body, record, exc, attempts=1)
            return None
        if handler is None:
            return None  # an event type this service does not need: skip, commit
        marker = f"{envelope.id}:{handler.__qualname__}"
        if await self._processed.find_one({"_id": marker}, projection={"_id": 1}):
            self.duplicates += 1
            log.info("dropping duplicate event %s (%s)", envelope.id, envelope.type)
            return None
        delivery = Delivery(envelope=envelope, topic=topic, partition=partition, offset=offset)
        attempts = 0
        while True:
            attempts += 1
            try:
                await handler(contract, delivery)
                break
            except Exception as exc:
                if attempts >= self._settings.consumer_max_attempts:
                    await self._dead_letter(topic, body, record, exc, attempts=attempts)
                    return None
                delay = self._settings.consumer_backoff_seconds * (2 ** (attempts - 1))
                log.warning(
                    "handler %s failed on %s (attempt %d), retrying in %.2fs",
                    handler.__qualname__,
                    envelope.id,
                    attempts,
                    delay,
                    exc_info=True,
                )
                await self._sleep(delay)
        self.applied += 1
        processed: Document = {
            "_id": marker,
            "event_type": envelope.type,
            "tenant_id": envelope.tenantid,
            "topic": topic,
            "processed_at": datetime.now(UTC),
        }
        if self._settings.fault_exit_before_commit_subject == envelope.subject:
            await self._mark(processed)
            log.error("fault injection: exiting after applying %s, before commit", envelope.id)
            os._exit(137)
        return processed

    def _decode(self, topic: str, body: bytes) -> tuple[EventEnvelope, Any, Handler | None]:
        try:
            envelope = EventEnvelope.from_bytes(body)
        except ValidationError as exc:
            raise PoisonMessage(f"not a valid event envelope: {exc}") from exc
        registered = self._handlers.get(topic, {}).get(envelope.type)
        if registered is None:
            return envelope, None, None
        contract_type, handler = registered
        try:
            contract = contract_type.model_validate(envelope.data)
        except (ValidationError, UnknownEventType) as exc:
            raise PoisonMessage(f"data does not match {envelope.type}: {exc}") from exc
        return envelope, contract, handler

    async def _dead_letter(
        self, topic: str, body: bytes, record: Any, error: BaseException, *, attempts: int
    ) -> None:
        headers = {
            "x-halcyon-error": str(error)[:4000],
            "x-halcyon-error-type": type(error).__name__,
            "x-halcyon-error-trace": "".join(traceback.format_exception(error))[-4000:],
            "x-halcyon-original-topic": topic,
            "x-halcyon-original-partition": str(getattr(record, "partition", -1)),
            "x-halcyon-original-offset": str(getattr(record, "offset", -1)),
            "x-halcyon-consumer-group": self._settings.consumer_group,
            "x-halcyon-attempts": str(attempts),
        }
        key = getattr(record, "key", None)
        await self._broker.publish(body, topic=f"{topic}.dlq", key=key, headers=headers)
        self.dead_lettered += 1
        log.error("dead-lettered a message from %s after %d attempt(s): %s", topic, attempts, error)
