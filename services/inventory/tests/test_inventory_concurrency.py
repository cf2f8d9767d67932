"""The balance never goes negative, even under 100 simultaneous dispenses (real service
process, real FerretDB, appointments announced on real Kafka)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import Agency, appointment
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_100_concurrent_dispenses_against_stock_for_10_exactly_10_succeed(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    inventory = start_service("inventory")
    agency = Agency(
        inventory.url,
        servers.kafka_bootstrap,
        topic_prefix,
        f"t_{unique}_inventory",
        token_issuer,
        mongo_client,
    )
    limits = httpx.Limits(max_connections=120, max_keepalive_connections=120)
    async with httpx.AsyncClient(base_url=inventory.url, timeout=120, limits=limits) as http:
        await agency.set_up(http, stock_mg=800)  # ten 80 mg initial doses
        appointments = [f"appt-{unique}-{i:03d}" for i in range(100)]
        await agency.announce(
            [
                appointment(a, agency.site, f"client-{i}", [agency.nurse])
                for i, a in enumerate(appointments)
            ]
        )
        await agency.wait_for("appointments", 100)

        samples: list[float] = []
        done = asyncio.Event()

        async def watch_balance() -> None:
            while not done.is_set():
                samples.append(await agency.balance())
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch_balance())
        responses = await asyncio.gather(
            *[
                http.post("/dispenses", json=agency.dose(a), headers=agency.as_nurse)
                for a in appointments
            ]
        )
        done.set()
        await watcher

        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 10, 409: 90}, [r.text for r in responses if r.status_code >= 500]
        refused = next(r for r in responses if r.status_code == 409)
        assert "insufficient stock" in refused.json()["detail"]
        assert await agency.balance() == 0
        assert samples
        assert min(samples) >= 0

        ledger = await http.get(
            f"/registrations/{agency.registration_id}/ledger",
            params={"limit": 200},
            headers=agency.as_officer,
        )
        kinds = Counter(e["kind"] for e in ledger.json()["items"])
        assert kinds["dispense"] == 10
        verified = await http.get(
            f"/registrations/{agency.registration_id}/ledger/verify", headers=agency.as_officer
        )
        assert verified.json()["intact"] is True, verified.json()
        # Refused dispenses left nothing behind: no dosing claims, no held reservations.
        db = agency.db()
        assert await db["dosing_sessions"].count_documents({"tenant_id": agency.tenant}) == 10
        balance = await db["balances"].find_one({"tenant_id": agency.tenant})
        assert balance["holds"] == []


async def test_two_instances_appending_to_one_ledger_keep_the_chain_intact(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    """Each instance remembers its chain's last entry and lets one append at a time; the
    other instance's appends make that memory stale, and the unique sequence number must
    still send it back to re-read the head: no gap, no fork, nothing lost."""
    first, second = start_service("inventory"), start_service("inventory")
    agency = Agency(
        first.url,
        servers.kafka_bootstrap,
        topic_prefix,
        f"t_{unique}_inventory",
        token_issuer,
        mongo_client,
    )
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=120, limits=limits) as one,
        httpx.AsyncClient(base_url=second.url, timeout=120, limits=limits) as other,
    ):
        await agency.set_up(one, stock_mg=80 * 40)
        appointments = [f"appt-{unique}-{i:03d}" for i in range(40)]
        await agency.announce(
            [
                appointment(a, agency.site, f"client-{i}", [agency.nurse])
                for i, a in enumerate(appointments)
            ]
        )
        await agency.wait_for("appointments", 40)
        # Both instances must know the sessions (each consumes the announcements).
        responses = await asyncio.gather(
            *[
                (one if i % 2 else other).post(
                    "/dispenses", json=agency.dose(a), headers=agency.as_nurse
                )
                for i, a in enumerate(appointments)
            ]
        )
        assert Counter(r.status_code for r in responses) == {201: 40}, [
            r.text for r in responses if r.status_code != 201
        ]
        verified = await one.get(
            f"/registrations/{agency.registration_id}/ledger/verify", headers=agency.as_officer
        )
        assert verified.json()["intact"] is True, verified.json()
        ledger = await other.get(
            f"/registrations/{agency.registration_id}/ledger",
            params={"limit": 200},
            headers=agency.as_officer,
        )
        entries = ledger.json()["items"]
        assert Counter(e["kind"] for e in entries)["dispense"] == 40
        assert sorted(e["seq"] for e in entries) == list(range(1, len(entries) + 1))
        assert await agency.balance() == 0
