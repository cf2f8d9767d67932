"""An example partner consumer: follow a Halcyon partner topic from the beginning.

    python examples/partner_consumer.py --bootstrap 127.0.0.1:19094 \\
        --user registry-acme --password '…' --topic partner.registry.dose.v1

It authenticates with SASL/SCRAM-SHA-512, reads as consumer group
``partner-<user>-feed`` (so the broker keeps its position: stop it and start it again
and it continues where it left off), commits only after handling each event, and
drops duplicates by event id (delivery is at least once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiokafka import AIOKafkaConsumer


async def follow(args: argparse.Namespace) -> None:
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=args.user,
        sasl_plain_password=args.password,
        group_id=f"partner-{args.user}-feed",
        auto_offset_reset="earliest",  # a new partner starts from the beginning
        enable_auto_commit=False,  # commit after handling, never before
    )
    seen: set[str] = set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=1000, max_records=100)
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if event["id"] in seen:
                        continue  # a redelivery; already handled
                    seen.add(event["id"])
                    print(f"{event['time']} {event['type']} {event['subject']}: {event['data']}")
            if batches:
                await consumer.commit()
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19094")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--topic", required=True)
    asyncio.run(follow(parser.parse_args()))


if __name__ == "__main__":
    main()
