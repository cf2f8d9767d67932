"""A hostile caller and a database administrator against the ledger, on the real service
and FerretDB: every attack is refused (no 5xx) or named, and a refusal writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from halcyon.inventory.domain.chain import entry_hash
from halcyon.inventory.settings import DEVELOPMENT_LEDGER_KEY
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import Agency, appointment
from services.inventory.tests.test_inventory_storage_au_audit import audit_trail
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_hostile_callers_and_a_database_administrator_are_refused_without_5xx(
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
        registration = agency.registration_id
        ledger = agency.db()["ledger"]
        before = await agency.balance_ug()

        # A huge quantity is a 422, not an unhandled decimal error; nothing is written.
        for huge in ("1e30", 1e30, 10**40, "-1e30"):
            receipt = {
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": huge,
                "received_on": "2026-12-01",
                "order_form_number": "CSOS-2026-000999",
            }
            refused = await http.post("/receipts", json=receipt, headers=agency.as_officer)
            assert refused.status_code == 422, refused.text
            adjusted = await http.post(
                "/adjustments",
                json={
                    "lot_id": agency.lot_id,
                    "location_id": agency.location_id,
                    "delta_mg": huge,
                    "reason": "hostile",
                },
                headers=agency.as_officer,
            )
            assert adjusted.status_code == 422, adjusted.text
        assert await agency.balance_ug() == before

        # Checkpoints of any shape: set aside or named as forged, never a 500.
        verify_url = f"/registrations/{registration}/ledger/verify"
        junk: list[dict[str, Any]] = [
            {"tenant_id": []},
            {"tenant_id": {"x": 1}},
            {"registration_id": registration, "seq": "abc", "signature": "!!"},
            {"registration_id": [registration]},
        ]
        checked = await http.post(verify_url, json={"checkpoints": junk}, headers=agency.as_officer)
        assert checked.status_code == 200, checked.text

        # A DBA backdates a young dispense, a compliance officer archives it through the
        # API, the DBA restores the date: the young entry would be hidden behind a genuine
        # seal. Archiving refuses an entry that does not match its keyed hash.
        await agency.announce([appointment("appt-1", agency.site, "client-1", [agency.nurse])])
        await agency.wait_for("appointments", 1)
        dispensed = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert dispensed.status_code == 201, dispensed.text
        target = dispensed.json()["id"]

        # An auditor at another site who is only a nurse here does not read this site's
        # lot history (it names the clients doses went to).
        elsewhere = token_issuer.headers(
            tenant_id=agency.tenant,
            user_id="officer-elsewhere",
            roles=[("site-boulder", "compliance_officer"), (agency.site, "nurse")],
        )
        foreign = await http.get(
            f"/lots/{agency.lot_id}/history", params={"format": "json"}, headers=elsewhere
        )
        assert foreign.status_code == 200, foreign.text
        assert "client-1" not in foreign.text
        assert target not in foreign.text
        own = await http.get(
            f"/lots/{agency.lot_id}/history", params={"format": "json"}, headers=agency.as_officer
        )
        assert "client-1" in own.text

        original = await ledger.find_one({"_id": target})
        await ledger.update_one(
            {"_id": target}, {"$set": {"recorded_at": datetime(2020, 1, 2, tzinfo=UTC)}}
        )
        archived = await http.delete(f"/ledger/{target}", headers=agency.as_officer)
        assert archived.status_code == 409, archived.text
        assert "keyed hash" in archived.json()["detail"]
        await ledger.replace_one({"_id": target}, original)
        stored = await ledger.find_one({"_id": target})
        assert stored is not None
        assert "archived_at" not in stored
        assert "archive_seal" not in stored
        assert (await http.get(verify_url, headers=agency.as_officer)).json()["intact"] is True

        # Archiving a genuinely old dispense (written in 2020 under the key) shows the
        # client it went to, and changes a DEA record: both are in the access audit.
        old_entry = {**original, "_id": "old-dispense", "seq": 10_000}
        old_entry["recorded_at"] = datetime(2020, 1, 2, tzinfo=UTC)
        old_entry["hash"] = entry_hash(old_entry, DEVELOPMENT_LEDGER_KEY.encode())
        await ledger.insert_one(old_entry)
        archived = await http.delete("/ledger/old-dispense", headers=agency.as_officer)
        assert archived.status_code == 200, archived.text
        assert archived.json()["client_id"] == "client-1"
        await ledger.delete_one({"_id": "old-dispense"})

        async def archive_audited() -> bool:
            trail = await audit_trail(servers.kafka_bootstrap, f"{topic_prefix}audit.access.v1")
            return any(
                e.get("resource") == "inventory/ledger-entry"
                and e.get("resource_id") == "old-dispense"
                and e.get("client_id") == "client-1"
                and e.get("outcome") == "success"
                for e in trail
            )

        await eventually(archive_audited, within=30, message="the archive is audited")

        # The newest entry deleted directly (inventory's anchors kept): a fresh checkpoint
        # of the shortened chain is refused, not signed.
        anchored = await http.post(
            f"/registrations/{registration}/ledger/anchors", headers=agency.as_officer
        )
        assert anchored.status_code == 200, anchored.text
        await ledger.delete_one({"_id": anchored.json()["entry_id"]})
        anchors_before = await agency.db()["ledger_anchors"].count_documents({})
        download = await http.get(
            f"/registrations/{registration}/ledger/checkpoint", headers=agency.as_officer
        )
        assert download.status_code == 409, download.text
        assert "missing" in download.json()["detail"]
        assert await agency.db()["ledger_anchors"].count_documents({}) == anchors_before

        # Another agency cannot verify, anchor or download this agency's ledger.
        other = token_issuer.headers(
            tenant_id="another-agency",
            user_id="their-officer",
            roles=[("*", "compliance_officer"), ("*", "agency_admin")],
        )
        for method, url in (
            ("GET", verify_url),
            ("POST", f"/registrations/{registration}/ledger/anchors"),
            ("GET", f"/registrations/{registration}/ledger/checkpoint"),
            ("GET", f"/registrations/{registration}/ledger"),
        ):
            response = await http.request(method, url, headers=other)
            assert response.status_code == 404, (method, url, response.text)

        # Lock state changed by a nurse: refused, the location unchanged.
        lock = await http.post(
            f"/locations/{agency.location_id}/lock-state",
            json={"locked": False, "note": "propped open"},
            headers=agency.as_nurse,
        )
        assert lock.status_code == 403, lock.text
        location = await agency.db()["locations"].find_one({"_id": agency.location_id})
        assert location is not None
        assert location["locked"] is True

        # A dispense written before ADR 0502 and left unmigrated (its old chain did not
        # verify): reports and the lot history still read it, exactly, without a 500.
        assert original is not None
        legacy = {
            k: v
            for k, v in original.items()
            if k not in {"quantity_ug", "strength_ug", "hash", "chain_version"}
        }
        legacy.update(
            _id="legacy-dispense", seq=999, quantity_mg=0.30000000000000004, strength_mg=40.0
        )
        await ledger.insert_one(legacy)
        log = await http.get(
            f"/registrations/{registration}/reports/dispensing-log",
            params={"schedules": "I-II", "format": "json"},
            headers=agency.as_officer,
        )
        assert log.status_code == 200, log.text
        history = await http.get(
            f"/lots/{agency.lot_id}/history", params={"format": "json"}, headers=agency.as_officer
        )
        assert history.status_code == 200, history.text
        assert "0.3" in log.text
        assert "-0.3" in history.text
