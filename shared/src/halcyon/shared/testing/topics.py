"""Read a Kafka topic from its beginning in a test: one reader instead of a copy per suite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.testing.plugin import eventually

T = TypeVar("T")


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[dict[str, Any]]], object],
    within: float = 60.0,
    linger_ms: int = 0,
    required: bool = True,
) -> list[dict[str, Any]]:
    """Every record's JSON from the start of ``topic`` once ``until(seen)`` is true.

    ``linger_ms`` keeps reading a little longer, so a test that counts (a duplicate must
    not appear) sees what arrives just after the events it waited for. With
    ``required=False`` a reader that runs out of time returns what it saw (for tests
    that an event does *not* come) instead of failing."""
    return await _read(bootstrap, topic, json.loads, until, within, linger_ms, required)


async def read_envelopes(
    bootstrap: str,
    topic: str,
    want: int,
    *,
    within: float = 60.0,
    linger_ms: int = 0,
    required: bool = True,
) -> list[EventEnvelope]:
    """At least ``want`` envelopes from the start of ``topic`` (see ``read_topic``)."""
    return await _read(
        bootstrap,
        topic,
        EventEnvelope.from_bytes,
        lambda seen: len(seen) >= want,
        within,
        linger_ms,
        required,
    )


async def _read(
    bootstrap: str,
    topic: str,
    parse: Callable[[bytes], T],
    until: Callable[[list[T]], object],
    within: float,
    linger_ms: int,
    required: bool,
) -> list[T]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[T] = []

    async def poll(timeout_ms: int) -> None:
        batch = await consumer.getmany(timeout_ms=timeout_ms)
        for records in batch.values():
            seen.extend(parse(r.value) for r in records if r.value)

    try:

        async def more() -> bool:
            await poll(500)
            return bool(until(seen))

        try:
            await eventually(more, within=within, interval=0, message=f"events on {topic}")
        except AssertionError:
            if required:
                raise
        if linger_ms:
            await poll(linger_ms)
    finally:
        await consumer.stop()
    return seen
