"""A partner principal reads its own topics over SASL/SCRAM and is refused internal ones."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from halcyon.shared.partners import PartnerGrant, provision_partner
from halcyon.shared.testing.servers import Servers

pytestmark = pytest.mark.integration


def partner_consumer(
    bootstrap: str, grant: PartnerGrant, password: str, topic: str
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=grant.name,
        sasl_plain_password=password,
        group_id=f"{grant.group_prefix}-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def test_partner_reads_its_topic_and_is_refused_internal_topics(servers: Servers) -> None:
    partner_bootstrap = servers.partner_bootstrap
    if not partner_bootstrap:
        pytest.skip("the broker has no partner (SASL/SCRAM) listener configured")
    unique = uuid.uuid4().hex[:8]
    grant = PartnerGrant(name=f"registry-{unique}", audience=f"registry{unique}")
    password = f"pw-{uuid.uuid4().hex}"
    provision_partner(servers.kafka_bootstrap, grant, password)
    own = f"{grant.topic_prefix}dose.v1"
    internal = f"t{unique}.clinical.client.v1"
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(own, b'{"dose": "reported"}')
        await producer.send_and_wait(internal, b'{"name": "private"}')
    finally:
        await producer.stop()

    allowed = partner_consumer(partner_bootstrap, grant, password, own)
    await allowed.start()
    try:
        record = await allowed.getone()
        assert record.value == b'{"dose": "reported"}'
    finally:
        await allowed.stop()

    refused = partner_consumer(partner_bootstrap, grant, password, internal)
    with pytest.raises(TopicAuthorizationFailedError):
        await refused.start()
        try:
            await refused.getmany(timeout_ms=10_000)
            await refused.getone()
        finally:
            await refused.stop()

    wrong_password = partner_consumer(partner_bootstrap, grant, "not-the-password", own)
    with pytest.raises(KafkaError):
        await wrong_password.start()
        await wrong_password.stop()


async def test_the_example_partner_consumer_keeps_its_position_across_restarts(
    servers: Servers,
) -> None:
    import asyncio
    import json
    import signal
    import subprocess
    import sys

    from halcyon.shared.contracts.clinical import ClientRegistered  # any envelope will do
    from halcyon.shared.envelope import EventEnvelope
    from halcyon.shared.testing.servers import repo_root

    if not servers.partner_bootstrap:
        pytest.skip("the broker has no partner (SASL/SCRAM) listener configured")
    unique = uuid.uuid4().hex[:8]
    grant = PartnerGrant(name=f"feed-{unique}", audience=f"feed{unique}")
    password = f"pw-{uuid.uuid4().hex}"
    provision_partner(servers.kafka_bootstrap, grant, password)
    topic = f"{grant.topic_prefix}client.v1"

    async def publish(subject: str) -> None:
        event = EventEnvelope.wrap(
            ClientRegistered(
                client_id=subject,
                home_site_id="s",
                given_name="-",
                family_name="-",
                date_of_birth="2000-01-01",
            ),  # type: ignore[arg-type]
            source="/tests",
            tenant_id="t",
        )
        producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, json.dumps(event.model_dump(mode="json")).encode())
        finally:
            await producer.stop()

    async def run_example_until(marker: str) -> str:
        proc = subprocess.Popen(  # noqa: ASYNC220 - a child we read line by line below
            [
                sys.executable,
                str(repo_root() / "examples" / "partner_consumer.py"),
                "--bootstrap",
                servers.partner_bootstrap or "",
                "--user",
                grant.name,
                "--password",
                password,
                "--topic",
                topic,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        output = ""
        loop = asyncio.get_running_loop()
        while marker not in output:
            line = await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.readline), 60)
            if not line:
                break
            output += line
        await asyncio.sleep(1.5)  # let it commit after the batch
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        return output

    await publish(f"first-{unique}")
    first = await run_example_until(f"first-{unique}")
    assert f"first-{unique}" in first
    await publish(f"second-{unique}")
    second = await run_example_until(f"second-{unique}")
    assert f"second-{unique}" in second and f"first-{unique}" not in second
