"""The foundation's promises, shown on the real Kafka broker and MongoDB-wire server.

Each service here is its own OS process; events cross a real broker.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService

pytestmark = pytest.mark.integration
PROBE = "tests.platform.probe_app:app"


def client_registered(tenant: str, client_id: str) -> EventEnvelope:
    event = ClientRegistered(
        client_id=client_id,
        home_site_id="site-1",
        given_name="Ada",
        family_name="Byron",
        date_of_birth=date(1990, 1, 2),
    )
    return EventEnvelope.wrap(event, source="/halcyon/tests", tenant_id=tenant)


async def publish_raw(servers: Servers, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(servers: Servers, topic: str, want: int, within: float = 30.0) -> list[object]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[object] = []
    try:

        async def more() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
            return len(records) >= want

        await eventually(more, within=within, interval=0, message=f"{want} records on {topic}")
    finally:
        await consumer.stop()
    return records


async def tally(probe_url: str, tenant: str, client_id: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{probe_url}/tally/{tenant}/{client_id}")
        return int(response.json()["applied"])


async def stats(probe_url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as http:
        return dict((await http.get(f"{probe_url}/stats")).json())


async def test_outbox_event_reaches_another_process_once_even_when_delivered_twice(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    clinical = start_service("clinical")
    probe = start_service("probe", app=PROBE)
    tenant = f"agency-{unique}"
    async with httpx.AsyncClient(base_url=clinical.url) as http:
        response = await http.post(
            "/clients",
            json={
                "given_name": "Ada",
                "family_name": "Byron",
                "date_of_birth": "1990-01-02",
                "home_site_id": "site-1",
            },
            headers=token_issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")]),
        )
    assert response.status_code == 201, response.text
    client_id = response.json()["id"]

    async def applied_once() -> bool:
        return await tally(probe.url, tenant, client_id) == 1

    await eventually(applied_once, message="probe applied the outbox event")

    # Deliver the very same event again, as a relay crash or a producer retry would.
    [record] = await read_topic(servers, f"{topic_prefix}clinical.client.v1", want=1)
    await publish_raw(servers, record.topic, record.value, record.key)  # type: ignore[attr-defined]

    async def duplicate_seen() -> bool:
        return (await stats(probe.url))["duplicates"] >= 1

    await eventually(duplicate_seen, message="probe dropped the redelivered event")
    assert await tally(probe.url, tenant, client_id) == 1


async def test_consumer_killed_before_commit_resumes_without_loss_or_double_apply(
    start_service: StartService,
    servers: Servers,
    topic_prefix: str,
    unique: str,
) -> None:
    tenant = f"agency-{unique}"
    crash_on = f"crash-{unique}"
    probe = start_service(
        "probe", app=PROBE, HALCYON_PROBE_FAULT_EXIT_BEFORE_COMMIT_SUBJECT=crash_on
    )
    topic = f"{topic_prefix}clinical.client.v1"
    subjects = [f"before-{unique}", crash_on, f"after-{unique}"]
    for subject in subjects:
        envelope = client_registered(tenant, subject)
        await publish_raw(servers, topic, envelope.to_bytes(), subject.encode())

    # The probe applies "crash-…" and dies (exit 137) before committing its offset.
    assert probe.wait_exit(timeout=60) == 137
    assert await _tally_in_db(servers, unique, tenant, crash_on) == 1

    probe.restart(HALCYON_PROBE_FAULT_EXIT_BEFORE_COMMIT_SUBJECT="").wait_ready()

    async def all_applied() -> bool:
        return all([await tally(probe.url, tenant, s) >= 1 for s in subjects])

    await eventually(all_applied, message="every event applied after the restart")
    assert [await tally(probe.url, tenant, s) for s in subjects] == [1, 1, 1]
    assert (await stats(probe.url))["duplicates"] >= 1  # the crashed one came back and was dropped


async def _tally_in_db(servers: Servers, unique: str, tenant: str, client_id: str) -> int:
    from halcyon.shared.mongo import connect

    client = connect(servers.mongo_url)
    try:
        doc = await client[f"t_{unique}_probe"]["tally"].find_one(
            {"_id": client_id, "tenant_id": tenant}
        )
        return int(doc["applied"]) if doc else 0
    finally:
        await client.close()


async def test_malformed_message_goes_to_dead_letter_topic_and_consumer_goes_on(
    start_service: StartService,
    servers: Servers,
    topic_prefix: str,
    unique: str,
) -> None:
    tenant = f"agency-{unique}"
    probe = start_service("probe", app=PROBE, HALCYON_PROBE_CONSUMER_BACKOFF_SECONDS="0.01")
    topic = f"{topic_prefix}clinical.client.v1"
    await publish_raw(servers, topic, b"{not json", b"k1")
    failing = client_registered(tenant, f"fail-{unique}")
    await publish_raw(servers, topic, failing.to_bytes(), b"k2")
    good = client_registered(tenant, f"good-{unique}")
    await publish_raw(servers, topic, good.to_bytes(), b"k3")

    async def good_applied() -> bool:
        return await tally(probe.url, tenant, f"good-{unique}") == 1

    await eventually(good_applied, message="the good message after the bad ones was applied")
    dead = await read_topic(servers, f"{topic}.dlq", want=2)
    by_value = {r.value: dict((k, v.decode()) for k, v in r.headers) for r in dead}  # type: ignore[attr-defined]
    malformed = by_value[b"{not json"]
    assert malformed["x-halcyon-error-type"] == "PoisonMessage"
    assert "not a valid event envelope" in malformed["x-halcyon-error"]
    assert malformed["x-halcyon-original-topic"] == topic
    handler_failure = by_value[failing.to_bytes()]
    assert handler_failure["x-halcyon-error-type"] == "RuntimeError"
    assert "probe refuses" in handler_failure["x-halcyon-error"]
    assert handler_failure["x-halcyon-attempts"] == "5"
    assert json.loads(failing.to_bytes())["id"] == failing.id
    assert await tally(probe.url, tenant, f"fail-{unique}") == 0


async def test_a_dead_letter_replayed_after_the_fix_is_applied_once(
    start_service: StartService, servers: Servers, topic_prefix: str, unique: str
) -> None:
    from halcyon.shared.dlq import replay

    tenant = f"agency-{unique}"
    probe = start_service("probe", app=PROBE, HALCYON_PROBE_CONSUMER_BACKOFF_SECONDS="0.01")
    topic = f"{topic_prefix}clinical.client.v1"
    refused = client_registered(tenant, f"fail-{unique}")
    await publish_raw(servers, topic, refused.to_bytes(), refused.subject.encode())
    await read_topic(servers, f"{topic}.dlq", want=1)
    assert await tally(probe.url, tenant, refused.subject) == 0

    # "Fix the cause" (the probe no longer refuses), then replay as the runbook says.
    probe.restart(HALCYON_PROBE_REFUSE_PREFIX="never-").wait_ready()
    assert await replay(servers.kafka_bootstrap, f"{topic}.dlq", f"halcyon-probe-{unique}") == 1

    async def applied() -> bool:
        return await tally(probe.url, tenant, refused.subject) == 1

    await eventually(applied, message="the replayed dead letter was applied")
