"""In-process clinical app on the real Kafka and FerretDB, plus helpers for its tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from halcyon.clinical.app import build_app
from halcyon.clinical.settings import ClinicalSettings
from halcyon.shared.contracts import EventContract
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import Document, connect
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from halcyon.shared.testing.topics import read_topic
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
        return await read_topic(
            self.servers.kafka_bootstrap, self.topic(topic), until=until, within=within
        )


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


async def clear_for_dosing(
    h: ClinicalHarness, tenant: str, client_id: str, protocol_id: str = "mdma-ptsd"
) -> None:
    """An active informed consent and an eligible screening, as a dosing note's signature
    requires (ADR 0403)."""
    from datetime import UTC, datetime, timedelta

    signed = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    consent = await h.http.post(
        f"/clients/{client_id}/consents",
        json={
            "kind": "psychedelic_informed",
            "protocol_id": protocol_id,
            "effective_at": signed,
            "signed_by_name": "Grace Hopper",
            "signed_at": signed,
        },
        headers=h.headers(tenant, "ther-1", ("site-1", "therapist")),
    )
    assert consent.status_code == 201, consent.text
    screening = await h.http.post(
        f"/clients/{client_id}/screenings",
        json={
            "protocol_id": protocol_id,
            "history": {
                "screened_on": datetime.now(UTC).date().isoformat(),
                "systolic_bp": 122,
                "diastolic_bp": 78,
                "qtc_ms": 410,
                "diagnoses": ["F43.10"],
            },
        },
        headers=h.headers(tenant, "pres-1", ("site-1", "prescriber")),
    )
    assert screening.status_code == 201, screening.text
    assert screening.json()["eligible"], screening.text
