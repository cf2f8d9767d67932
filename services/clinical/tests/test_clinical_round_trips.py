"""Round-trip budgets of clinical's core actions (docs/services/clinical.md).

Each action's database commands (PyMongo command monitoring) and Kafka sends, counted
by the service itself (HALCYON_COUNT_ROUND_TRIPS), must stay within the budget its
docs state: one more query per request is what makes a platform slow under load.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from halcyon.clinical.app import build_app
from halcyon.clinical.settings import ClinicalSettings
from halcyon.shared.testing.roundtrips import assert_within_budget
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

pytestmark = pytest.mark.integration

START = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


@dataclass
class Counted:
    http: httpx.AsyncClient
    issuer: TestTokenIssuer
    tenant: str

    def headers(self, user: str, role: str) -> dict[str, str]:
        return self.issuer.headers(tenant_id=self.tenant, user_id=user, roles=[("site-1", role)])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clinical(servers: Servers, token_issuer: TestTokenIssuer) -> AsyncIterator[Counted]:
    settings = ClinicalSettings(
        environment="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongo_url=servers.mongo_url,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        database_name=f"t_{uuid.uuid4().hex[:10]}_clinical",
        jwt_public_key_pem=token_issuer.public_pem,
        topic_partitions=1,
        count_round_trips=True,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinical") as http:
            yield Counted(http, token_issuer, f"agency-{uuid.uuid4().hex[:8]}")


async def register(c: Counted) -> httpx.Response:
    body = {
        "given_name": "Grace",
        "family_name": "Hopper",
        "date_of_birth": "1985-12-09",
        "home_site_id": "site-1",
    }
    response = await c.http.post("/clients", json=body, headers=c.headers("desk-1", "front_desk"))
    assert response.status_code == 201, response.text
    return response


def note(author: str) -> dict[str, Any]:
    return {
        "kind": "psychotherapy",
        "site_id": "site-1",
        "template_id": "builtin:progress-soap",
        "started_at": START.isoformat(),
        "ended_at": (START + timedelta(minutes=53)).isoformat(),
        "clinicians": [{"staff_id": author, "role": "therapist"}],
        "diagnoses": ["F43.10"],
        "psychotherapy_minutes": 53,
        "content": {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"},
    }


async def test_register_a_client(clinical: Counted) -> None:
    await register(clinical)  # the first request of a tenant may warm caches
    assert_within_budget("clinical", "register a client", await register(clinical))


async def test_open_a_chart(clinical: Counted) -> None:
    client_id = (await register(clinical)).json()["id"]
    headers = clinical.headers("ther-1", "therapist")
    chart = await clinical.http.get(f"/clients/{client_id}", headers=headers)
    assert chart.status_code == 200, chart.text
    assert_within_budget("clinical", "open a chart", chart)


async def test_sign_a_note(clinical: Counted) -> None:
    client_id = (await register(clinical)).json()["id"]
    author = clinical.headers("ther-1", "therapist")
    notes = f"/clients/{client_id}/notes"
    draft = await clinical.http.post(notes, json=note("ther-1"), headers=author)
    assert draft.status_code == 201, draft.text
    signed = await clinical.http.post(f"/notes/{draft.json()['id']}/sign", json={}, headers=author)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed", signed.text
    assert_within_budget("clinical", "sign a note", signed)
