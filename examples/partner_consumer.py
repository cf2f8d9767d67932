"""An example partner consumer: follow Halcyon partner topics from the beginning.

    python examples/partner_consumer.py --bootstrap 127.0.0.1:19094 \\
        --user registry-acme --password '…' \\
        --topic partner.registry.dose.v2 --topic partner.registry.session.v1

    # or every topic the grant covers, including ones added later:
    python examples/partner_consumer.py … --topic-prefix partner.registry.

It authenticates with SASL/SCRAM-SHA-512, reads as consumer group
``partner-<user>-feed`` (so the broker keeps its position: stop it and start it again
and it continues where it left off), commits only after handling each batch, and
drops duplicates by event id (delivery is at least once).

Events are dispatched on the envelope's ``type``, never on the topic: each version of
a contract has its own type (``…reported.v1``, ``…reported.v2``). While a v1 is being
deprecated, Halcyon publishes v1 and v2 of the same fact with the same ``report_id``;
this consumer handles a dose once whichever version it reads first, so following both
topics during a migration does not double-count. See docs/partners.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer

Event = dict[str, Any]


class RegistryFeed:
    """What a registry does with the events: here, print one line per fact."""

    def __init__(self) -> None:
        self.seen_events: set[str] = set()
        self.seen_doses: set[str] = set()
        self.handlers: dict[str, Callable[[Event], None]] = {
            "halcyon.partner.registry_dose.reported.v1": self.dose_v1,
            "halcyon.partner.registry_dose.reported.v2": self.dose_v2,
            "halcyon.partner.registry_session.reported.v1": self.session_v1,
        }

    def handle(self, event: Event) -> None:
        if event["id"] in self.seen_events:
            return  # a redelivery; already handled
        self.seen_events.add(event["id"])
        handler = self.handlers.get(event["type"], self.other)
        handler(event)

    def dose_v1(self, event: Event) -> None:
        data = event["data"]
        # v1 carried a float in milligrams; str() keeps what was sent (120.0 → "120.0").
        self.dose(event, data, Decimal(str(data["quantity_mg"])), "mg", route=None)

    def dose_v2(self, event: Event) -> None:
        data = event["data"]
        # v2's amount is an exact decimal string with its unit.
        amount = Decimal(data["dose"]["amount"])
        self.dose(event, data, amount, data["dose"]["unit"], route=data.get("route"))

    def dose(
        self, event: Event, data: Event, amount: Decimal, unit: str, route: str | None
    ) -> None:
        if data["report_id"] in self.seen_doses:
            return  # the same dose in the other version
        self.seen_doses.add(data["report_id"])
        print(
            f"{event['time']} {event['type']} {event['subject']}: participant "
            f"{data['participant']} {data['protocol_id']} {data['substance']} {amount} {unit}"
            f" {route or 'route not stated'} on {data['administered_on']}"
            f"{' (supplemental)' if data['supplemental'] else ''}",
            flush=True,
        )

    def session_v1(self, event: Event) -> None:
        data = event["data"]
        adverse = ", ".join(f"{k} {v}" for k, v in data["adverse_events"].items() if v)
        print(
            f"{event['time']} {event['type']} {event['subject']}: participant "
            f"{data['participant']} {data['protocol_id']} session "
            f"{data.get('session_number') or '?'} on {data['session_on']}, "
            f"{data['duration_minutes']} min, adverse events: {adverse or 'none'}, "
            f"vitals alerts {data['vitals_alerts']}",
            flush=True,
        )

    def other(self, event: Event) -> None:
        # A type this consumer does not know yet (e.g. a new version): keep going.
        print(f"{event['time']} {event['type']} {event['subject']}: {event['data']}", flush=True)


async def follow(args: argparse.Namespace) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=args.user,
        sasl_plain_password=args.password,
        group_id=f"partner-{args.user}-feed",
        auto_offset_reset="earliest",  # a new partner starts from the beginning
        enable_auto_commit=False,  # commit after handling, never before
        metadata_max_age_ms=30_000,  # notice new topics under the prefix within 30 s
    )
    if args.topic_prefix:
        consumer.subscribe(pattern=f"^{re.escape(args.topic_prefix)}.*")
    else:
        consumer.subscribe(topics=args.topic)
    feed = RegistryFeed()
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
                    feed.handle(json.loads(record.value))
            if batches:
                await consumer.commit()
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19094")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--topic", action="append", help="a topic to follow (repeatable)")
    which.add_argument("--topic-prefix", help="follow every topic under this prefix")
    asyncio.run(follow(parser.parse_args()))


if __name__ == "__main__":
    main()
