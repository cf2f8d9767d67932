"""Dates people act on are the site's days (on the real service): a dose given in Denver
at 18:30 on the lot's expiry day is within date, although it is the next day in UTC."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import Agency, appointment
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
DENVER = ZoneInfo("America/Denver")


async def test_a_lot_is_in_date_all_of_its_expiry_day_at_the_site(
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
    yesterday = datetime.now(DENVER).date() - timedelta(days=1)
    evening = datetime.combine(yesterday, time(18, 30), tzinfo=DENVER)  # 01:30 UTC next day
    async with httpx.AsyncClient(base_url=inventory.url, timeout=60) as http:
        await agency.set_up(http, stock_mg=0)
        agency.lot_id = await agency.new_lot(http, "MD-EXP", yesterday)
        await agency.receive(http, agency.lot_id, 240)
        await agency.announce(
            [
                appointment(a, agency.site, f"client-{a}", [agency.nurse])
                for a in ("appt-evening", "appt-next-morning")
            ]
        )
        await agency.wait_for("appointments", 2)
        in_date = await http.post(
            "/dispenses",
            json=agency.dose("appt-evening", 120, administered_at=evening.isoformat()),
            headers=agency.as_nurse,
        )
        assert in_date.status_code == 201, in_date.text
        next_morning = evening + timedelta(hours=6)  # 00:30 at the site: the lot has expired
        expired = await http.post(
            "/dispenses",
            json=agency.dose("appt-next-morning", 120, administered_at=next_morning.isoformat()),
            headers=agency.as_nurse,
        )
        assert expired.status_code == 422, expired.text
        assert "expired" in expired.text, expired.text
