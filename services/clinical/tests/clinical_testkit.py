"""In-process clinical app on the real Kafka and FerretDB, plus helpers for its tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from halcyon.clinical.app import build_app
from halcyon.clinical.settings import ClinicalSettings
from halcyon.shared.contracts import EventContract
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import Document, connect
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo.asynchronous.database import AsyncDatabase


@dataclass
class ClinicalHarness:
    app: FastAPI
    http: httpx.AsyncClient
    settings: ClinicalSettings
    database: AsyncDatabase[Document]
    servers: Servers
    issuer: TestTokenIssuer

    def headers(
        self, tenant: str, user: str, *grants: tuple[str, str], **extra: Any
    ) -> dict[str, str]:
        return self.issuer.headers(tenant_id=tenant, user_id=user, roles=list(grants), **extra)

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    async def publish(self, contract: EventContract, tenant: str) -> None:
        envelope = EventEnvelope.wrap(contract, source="/halcyon/tests", tenant_id=tenant)
        producer = AIOKafkaProducer(bootstrap_servers=self.servers.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                self.topic(contract.topic), envelope.to_bytes(), key=envelope.subject.encode()
            )
        finally:
            await producer.stop()

    async def events(
        self,
        topic: str,
        *,
        until: Any,
        within: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Read a topic from the start until ``until(envelopes)`` is true; return them all."""
        consumer = AIOKafkaConsumer(
            self.topic(topic),
            bootstrap_servers=self.servers.kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=f"reader-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
        )
        await consumer.start()
        seen: list[dict[str, Any]] = []
        try:

            async def more() -> bool:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    seen.extend(json.loads(r.value) for r in records)
                return bool(until(seen))

            await eventually(more, within=within, interval=0, message=f"events on {topic}")
        finally:
            await consumer.stop()
        return seen


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clinical(
    servers: Servers, token_issuer: TestTokenIssuer
) -> AsyncIterator[ClinicalHarness]:
    settings = ClinicalSettings(
        environment="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongo_url=servers.mongo_url,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        database_name=f"t_{uuid.uuid4().hex[:10]}_clinical",
        jwt_public_key_pem=token_issuer.public_pem,
        topic_partitions=1,
        consent_sweep_seconds=0.5,
    )
    app = build_app(settings)
    client = connect(servers.mongo_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinical") as http:
            yield ClinicalHarness(
                app=app,
                http=http,
                settings=settings,
                database=client[settings.database_name],
                servers=servers,
                issuer=token_issuer,
            )
    await client.close()


def new_tenant() -> str:
    return f"agency-{uuid.uuid4().hex[:8]}"


CLIENT = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1985-12-09",
    "home_site_id": "site-1",
}


async def register(h: ClinicalHarness, tenant: str, **fields: Any) -> dict[str, Any]:
    response = await h.http.post(
        "/clients",
        json={**CLIENT, **fields},
        headers=h.headers(tenant, "desk-1", ("site-1", "front_desk")),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
