"""Tamper evidence and retention of the ledger, on the real service and FerretDB."""

from __future__ import annotations

import httpx
import pytest
from halcyon.inventory.testkit import Agency, appointment
from halcyon.shared.mongo import Document
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_changing_a_stored_entry_is_detected_and_named_and_young_records_stay(
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
    async with httpx.AsyncClient(base_url=inventory.url, timeout=60) as http:
        await agency.set_up(http, stock_mg=800)
        await agency.announce([appointment("appt-1", agency.site, "client-1", [agency.nurse])])
        await agency.wait_for("appointments", 1)
        retry = {**agency.as_nurse, "Idempotency-Key": f"dose-{unique}"}
        dispensed = await http.post("/dispenses", json=agency.dose("appt-1", 120), headers=retry)
        assert dispensed.status_code == 201, dispensed.text
        # A retried request (lost response) replays the same entry and books nothing twice.
        again = await http.post("/dispenses", json=agency.dose("appt-1", 120), headers=retry)
        assert again.status_code == 201 and again.json()["id"] == dispensed.json()["id"]
        await agency.receive(http, agency.lot_id, 400)
        assert await agency.balance() == 800 - 120 + 400
        verify_url = f"/registrations/{agency.registration_id}/ledger/verify"

        intact = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert intact["intact"] is True
        assert intact["entries_checked"] == 4  # initial inventory, receipt, dispense, receipt

        # Someone with database access shaves the dispensed quantity.
        ledger = agency.db()["ledger"]
        target = dispensed.json()["id"]
        await ledger.update_one({"_id": target}, {"$set": {"quantity_mg": 80.0}})
        tampered = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert tampered["intact"] is False
        assert tampered["first_broken"]["entry_id"] == target
        assert tampered["first_broken"]["seq"] == 3
        assert "altered" in tampered["first_broken"]["reason"]

        # Undo it, then remove an entry instead: the gap names the entry after it.
        await ledger.update_one({"_id": target}, {"$set": {"quantity_mg": 120.0}})
        assert (await http.get(verify_url, headers=agency.as_officer)).json()["intact"] is True
        removed = await ledger.find_one_and_delete({"_id": target})
        gap = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert gap["first_broken"]["seq"] == 4
        assert "missing" in gap["first_broken"]["reason"]
        await ledger.insert_one(removed)

        # 21 CFR 1304.04(a): a record younger than two years cannot be deleted or archived.
        refused = await http.delete(f"/ledger/{target}", headers=agency.as_officer)
        assert refused.status_code == 422
        assert "1304.04(a)" in refused.json()["rule"]
        stored = await ledger.find_one({"_id": target})
        assert stored is not None and "archived_at" not in stored

        # The ledger pages in chain order.
        seqs: list[int] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (
                await http.get(
                    f"/registrations/{agency.registration_id}/ledger",
                    params=params,
                    headers=agency.as_officer,
                )
            ).json()
            seqs += [e["seq"] for e in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seqs == [1, 2, 3, 4]
