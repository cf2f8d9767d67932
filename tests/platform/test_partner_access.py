"""A partner principal reads its own topics over SASL/SCRAM and is refused internal ones."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from datetime import date

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.partner import (
    AdverseEventCounts,
    DoseAmount,
    RegistryDoseReported,
    RegistryDoseReportedV2,
    RegistrySessionReported,
)
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.partners import PartnerGrant, grant_topic_prefix, provision_partner
from halcyon.shared.testing.servers import Servers, repo_root

pytestmark = pytest.mark.integration


def partner_consumer(
    bootstrap: str, grant: PartnerGrant, password: str, *topics: str
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
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

    await assert_refused(partner_bootstrap, grant, password, internal)

    wrong_password = partner_consumer(partner_bootstrap, grant, "not-the-password", own)
    try:
        with pytest.raises(KafkaError):
            await wrong_password.start()
    finally:
        await wrong_password.stop()


async def assert_refused(bootstrap: str, grant: PartnerGrant, password: str, topic: str) -> None:
    refused = partner_consumer(bootstrap, grant, password, topic)

    async def start_and_read() -> None:
        await refused.start()
        try:
            await refused.getmany(timeout_ms=10_000)
            await refused.getone()
        finally:
            await refused.stop()

    with pytest.raises(TopicAuthorizationFailedError):
        await start_and_read()


async def test_one_registry_grant_reads_every_registry_topic_and_nothing_else(
    servers: Servers,
) -> None:
    """The real registry topics (dose v1 and v2, sessions) all sit under the registry
    prefix, so the one grant a registry is provisioned with reads them all; an internal
    topic and another audience's partner topic are refused."""
    partner_bootstrap = servers.partner_bootstrap
    if not partner_bootstrap:
        pytest.skip("the broker has no partner (SASL/SCRAM) listener configured")
    unique = uuid.uuid4().hex[:8]
    grant = PartnerGrant(name=f"registry-{unique}", audience="registry")
    password = f"pw-{uuid.uuid4().hex}"
    provision_partner(servers.kafka_bootstrap, grant, password)
    # This run's topics carry a fresh namespace before the real names; grant it the same
    # way (the production grant is exactly grant.topic_prefix, i.e. "partner.registry.").
    namespace = f"t{unique}."
    grant_topic_prefix(servers.kafka_bootstrap, grant, namespace + grant.topic_prefix)
    on = date(2026, 11, 20)
    facts = {
        "report_id": f"dose-{unique}",
        "participant": "p" * 32,
        "protocol_id": "mdma-ptsd",
        "substance": "MDMA",
        "supplemental": False,
        "administered_on": on,
    }
    registry_events: list[EventContract] = [
        RegistryDoseReported(**facts, quantity_mg=120.0),
        RegistryDoseReportedV2(**facts, dose=DoseAmount.milligrams(120), route="oral"),
        RegistrySessionReported(
            report_id=f"session-{unique}",
            participant="p" * 32,
            protocol_id="mdma-ptsd",
            session_on=on,
            duration_minutes=480,
            adverse_events=AdverseEventCounts(mild=1),
            vitals_alerts=0,
            supplemental_dose_given=False,
        ),
    ]
    assert all(e.topic.startswith(grant.topic_prefix) for e in registry_events)
    payer = f"{namespace}partner.payer.remittance.v1"  # another audience's partner topic
    internal = f"{namespace}clinical.client.v1"
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap)
    await producer.start()
    try:
        for contract in registry_events:
            envelope = EventEnvelope.wrap(contract, source="/tests", tenant_id="t")
            await producer.send_and_wait(namespace + contract.topic, envelope.to_bytes())
        await producer.send_and_wait(payer, b'{"claim": "paid"}')
        await producer.send_and_wait(internal, b'{"name": "private"}')
    finally:
        await producer.stop()

    reader = partner_consumer(
        partner_bootstrap, grant, password, *(namespace + e.topic for e in registry_events)
    )
    await reader.start()
    read: dict[str, str] = {}
    try:
        while len(read) < len(registry_events):
            record = await asyncio.wait_for(reader.getone(), 60)
            read[record.topic.removeprefix(namespace)] = EventEnvelope.from_bytes(record.value).type
    finally:
        await reader.stop()
    assert read == {e.topic: e.event_type for e in registry_events}

    await assert_refused(partner_bootstrap, grant, password, payer)
    await assert_refused(partner_bootstrap, grant, password, internal)


async def run_example_until(servers: Servers, args: list[str], *markers: str) -> str:
    """Run examples/partner_consumer.py until its output shows every marker, then stop it
    as an operator would (SIGTERM) and return what it printed."""
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child we read line by line below
        [
            sys.executable,
            str(repo_root() / "examples" / "partner_consumer.py"),
            "--bootstrap",
            servers.partner_bootstrap or "",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = ""
    loop = asyncio.get_running_loop()
    while not all(marker in output for marker in markers):
        line = await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.readline), 60)
        if not line:
            break
        output += line
    await asyncio.sleep(1.5)  # let it commit after the batch
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return output


async def test_the_example_partner_consumer_keeps_its_position_across_restarts(
    servers: Servers,
) -> None:
    from halcyon.shared.contracts.clinical import ClientRegistered  # any envelope will do

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
            ),
            source="/tests",
            tenant_id="t",
        )
        producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, json.dumps(event.model_dump(mode="json")).encode())
        finally:
            await producer.stop()

    args = ["--user", grant.name, "--password", password, "--topic", topic]
    await publish(f"first-{unique}")
    first = await run_example_until(servers, args, f"first-{unique}")
    assert f"first-{unique}" in first
    await publish(f"second-{unique}")
    second = await run_example_until(servers, args, f"second-{unique}")
    assert f"second-{unique}" in second
    assert f"first-{unique}" not in second


async def test_the_example_follows_a_prefix_and_handles_a_dose_once_in_v1_and_v2(
    servers: Servers,
) -> None:
    if not servers.partner_bootstrap:
        pytest.skip("the broker has no partner (SASL/SCRAM) listener configured")
    unique = uuid.uuid4().hex[:8]
    grant = PartnerGrant(name=f"reg-{unique}", audience=f"registry{unique}")
    password = f"pw-{uuid.uuid4().hex}"
    provision_partner(servers.kafka_bootstrap, grant, password)
    on = date(2026, 11, 20)
    dose_id, session_id = f"dose-{unique}", f"session-{unique}"
    facts = {
        "report_id": dose_id,
        "participant": "p" * 32,
        "protocol_id": "mdma-ptsd",
        "substance": "MDMA",
        "supplemental": False,
        "administered_on": on,
    }
    events: list[EventContract] = [
        RegistryDoseReported(**facts, quantity_mg=62.5),
        RegistryDoseReportedV2(**facts, dose=DoseAmount.milligrams("62.5"), route="oral"),
        RegistrySessionReported(
            report_id=session_id,
            participant="p" * 32,
            protocol_id="mdma-ptsd",
            session_on=on,
            session_number=3,
            duration_minutes=480,
            adverse_events=AdverseEventCounts(moderate=1),
            vitals_alerts=2,
            supplemental_dose_given=True,
        ),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap)
    await producer.start()
    try:
        for contract in events:
            # This run's audience stands in for "registry": same topic names under it.
            topic = contract.topic.replace("partner.registry.", grant.topic_prefix)
            envelope = EventEnvelope.wrap(contract, source="/tests", tenant_id="t")
            await producer.send_and_wait(topic, envelope.to_bytes())
    finally:
        await producer.stop()

    args = ["--user", grant.name, "--password", password, "--topic-prefix", grant.topic_prefix]
    output = await run_example_until(servers, args, dose_id, session_id)
    assert output.count(dose_id) == 1  # one dose, though published as v1 and as v2
    [dose_line] = [line for line in output.splitlines() if dose_id in line]
    assert "62.5 mg" in dose_line
    assert "MDMA" in dose_line
    [session_line] = [line for line in output.splitlines() if session_id in line]
    assert "session 3 on 2026-11-20, 480 min, adverse events: moderate 1" in session_line
    assert "vitals alerts 2" in session_line
