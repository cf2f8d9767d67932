"""Several instances of one service: work spreads, a SIGKILLed instance loses nothing.

Issue 12's local proof on the real broker and database: consumers share a group (the
survivors take over a dead instance's partitions) and only one instance relays the
outbox at a time (a lease that another instance takes over when the holder dies).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from halcyon.shared.mongo import connect
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService
from tests.platform.test_delivery_guarantees import PROBE, client_registered, read_topic

pytestmark = pytest.mark.integration
PARTITIONS = "6"


async def test_three_consumers_one_killed_mid_burst_every_event_applied_exactly_once(
    start_service: StartService, servers: Servers, topic_prefix: str, unique: str
) -> None:
    tenant = f"agency-{unique}"
    env = {"HALCYON_TOPIC_PARTITIONS": PARTITIONS, "HALCYON_PROBE_GUARD_WRITES_BY_EVENT_ID": "1"}
    probes = [start_service("probe", app=PROBE, **env) for _ in range(3)]
    topic = f"{topic_prefix}clinical.client.v1"
    subjects = [f"c{i:04d}-{uuid.uuid4().hex[:4]}" for i in range(300)]
    database = connect(servers.mongo_url)[f"t_{unique}_probe"]

    async def applied_count() -> int:
        return await database["tally"].count_documents({"tenant_id": tenant})

    # Wait until all three have joined the group and own partitions (each applies one).
    warm = [client_registered(tenant, f"warm-{i}") for i in range(12)]
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for envelope in warm:
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.subject.encode())

        async def warmed() -> bool:
            return await applied_count() == len(warm)

        await eventually(warmed, within=60, message="warm-up events applied")

        async def burst() -> None:
            for subject in subjects:
                envelope = client_registered(tenant, subject)
                await producer.send(topic, envelope.to_bytes(), key=subject.encode())
            await producer.flush()

        sending = asyncio.create_task(burst())

        async def a_third_applied() -> bool:
            return await applied_count() >= len(warm) + len(subjects) // 3

        await eventually(a_third_applied, within=120, message="a third of the burst applied")
        probes[1].kill()  # SIGKILL mid-burst: no commit, no shutdown hooks
        await sending
    finally:
        await producer.stop()

    async def all_applied() -> bool:
        return await applied_count() == len(warm) + len(subjects)

    await eventually(all_applied, within=180, message="every event applied after the kill")
    over = await database["tally"].count_documents({"tenant_id": tenant, "applied": {"$ne": 1}})
    assert over == 0, f"{over} events were applied more than once"
    # The survivors really shared the work after the kill.
    async with httpx.AsyncClient() as http:
        survivors = [(await http.get(f"{p.url}/stats")).json() for p in (probes[0], probes[2])]
    assert all(s["applied"] > 0 for s in survivors), survivors
    await database.client.close()


async def test_only_one_instance_relays_the_outbox_and_another_takes_over_when_it_dies(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    tenant = f"agency-{unique}"
    first = start_service("clinical", HALCYON_TOPIC_PARTITIONS=PARTITIONS)
    second = start_service("clinical", HALCYON_TOPIC_PARTITIONS=PARTITIONS)
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")])
    body = {
        "given_name": "Nellie",
        "family_name": "Bly",
        "date_of_birth": "1964-05-05",
        "home_site_id": "site-1",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        for i in range(20):  # writes spread over both instances
            instance = first if i % 2 else second
            assert (
                await http.post(f"{instance.url}/clients", json=body, headers=headers)
            ).status_code == 201
    topic = f"{topic_prefix}clinical.client.v1"
    records = await read_topic(servers, topic, want=20)
    assert len({r.value for r in records}) == len(records) == 20  # type: ignore[attr-defined]

    database = connect(servers.mongo_url)[f"t_{unique}_clinical"]
    lease = await database["leases"].find_one({"_id": "outbox-relay:clinical"})
    assert lease is not None
    holder_pid = int(lease["holder"].split(":")[1])
    first_pid = first.proc.pid if first.proc else -1
    holder, survivor = (first, second) if holder_pid == first_pid else (second, first)
    holder.kill()
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(5):
            assert (
                await http.post(f"{survivor.url}/clients", json=body, headers=headers)
            ).status_code == 201
    # The survivor takes the lease when it expires and publishes the new events, once.
    records = await read_topic(servers, topic, want=25, within=60)
    assert len(records) == 25
    await database.client.close()
