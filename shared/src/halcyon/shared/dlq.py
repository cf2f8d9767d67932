"""Inspect and replay dead letters.

``python -m halcyon.shared.dlq list <topic>.dlq`` prints each dead letter with its error;
``python -m halcyon.shared.dlq replay <topic>.dlq [--group halcyon-billing]`` publishes
the original bytes (same key) back to the original topic. Consumers that applied an
event already drop it by id; the one that failed applies it now.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers.get("x-halcyon-original-topic", "")


async def read_dead_letters(
    bootstrap: str, dlq_topic: str, idle_ms: int = 1500
) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        dlq_topic,
        bootstrap_servers=bootstrap,
        group_id=f"dlq-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode(errors="replace") for k, v in record.headers}
                    letters.append(DeadLetter(record.key, record.value, headers))
    finally:
        await consumer.stop()
    return letters


async def replay(bootstrap: str, dlq_topic: str, group: str | None = None) -> int:
    letters = [
        d
        for d in await read_dead_letters(bootstrap, dlq_topic)
        if group is None or d.headers.get("x-halcyon-consumer-group") == group
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for letter in letters:
            topic = letter.original_topic or dlq_topic.removesuffix(".dlq")
            await producer.send_and_wait(topic, letter.value, key=letter.key)
    finally:
        await producer.stop()
    return len(letters)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m halcyon.shared.dlq")
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("topic", help="the dead-letter topic, e.g. clinical.encounter.v1.dlq")
    parser.add_argument("--group", help="only letters dead-lettered by this consumer group")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("HALCYON_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    if args.command == "list":
        for letter in asyncio.run(read_dead_letters(args.bootstrap, args.topic)):
            print(
                f"{letter.headers.get('x-halcyon-consumer-group', '?')} "
                f"{letter.original_topic}@{letter.headers.get('x-halcyon-original-offset', '?')}: "
                f"{letter.headers.get('x-halcyon-error-type', '?')}: "
                f"{letter.headers.get('x-halcyon-error', '')[:200]}"
            )
    else:
        count = asyncio.run(replay(args.bootstrap, args.topic, args.group))
        print(f"replayed {count} dead letter(s) from {args.topic}")


if __name__ == "__main__":
    main()
