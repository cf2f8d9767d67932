"""Tamper evidence and retention of the ledger, on the real service and FerretDB."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from halcyon.inventory.domain.chain import canonical_json
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.identity.tests.identity_testkit import add_staff, create_agency, start_identity
from services.inventory.tests.inventory_testkit import Agency, appointment
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
        assert again.status_code == 201
        assert again.json()["id"] == dispensed.json()["id"]
        await agency.receive(http, agency.lot_id, 400)
        assert await agency.balance() == 800 - 120 + 400
        verify_url = f"/registrations/{agency.registration_id}/ledger/verify"

        intact = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert intact["intact"] is True
        assert intact["entries_checked"] == 4  # initial inventory, receipt, dispense, receipt

        # Someone with database access shaves the dispensed quantity.
        ledger = agency.db()["ledger"]
        target = dispensed.json()["id"]
        await ledger.update_one({"_id": target}, {"$set": {"quantity_ug": 80_000}})
        tampered = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert tampered["intact"] is False
        assert tampered["first_broken"]["entry_id"] == target
        assert tampered["first_broken"]["seq"] == 3
        assert "altered" in tampered["first_broken"]["reason"]

        # Undo it, then remove an entry instead: the gap names the entry after it.
        await ledger.update_one({"_id": target}, {"$set": {"quantity_ug": 120_000}})
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
        assert stored is not None
        assert "archived_at" not in stored

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


async def test_a_database_administrator_cannot_rewrite_hide_or_truncate_the_ledger(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    """ADR 0503: a keyed chain (an edit with every later hash recomputed is named), sealed
    archival fields, and anchors of the head outside inventory's database (identity's
    append-only log and a checkpoint file the auditor keeps) that catch a deleted entry."""
    identity = start_identity(start_service)
    inventory = start_service("inventory")
    async with (
        httpx.AsyncClient(base_url=identity.url, timeout=60) as directory,
        httpx.AsyncClient(base_url=inventory.url, timeout=60) as http,
    ):
        tenant = await create_agency(directory)
        compliance = await add_staff(directory, tenant, "compliance_officer")
        agency = Agency(
            inventory.url,
            servers.kafka_bootstrap,
            topic_prefix,
            f"t_{unique}_inventory",
            token_issuer,
            mongo_client,
            tenant=tenant.id,
        )
        await agency.set_up(http, stock_mg=800)
        await agency.announce([appointment("appt-1", agency.site, "client-1", [agency.nurse])])
        await agency.wait_for("appointments", 1)
        dispensed = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert dispensed.status_code == 201, dispensed.text
        await agency.receive(http, agency.lot_id, 400)
        registration = agency.registration_id
        verify_url = f"/registrations/{registration}/ledger/verify"

        # Anchor the head (the periodic sweep does the same) and keep the checkpoint file.
        anchored = await http.post(
            f"/registrations/{registration}/ledger/anchors", headers=agency.as_officer
        )
        assert anchored.status_code == 200, anchored.text
        download = await http.get(
            f"/registrations/{registration}/ledger/checkpoint", headers=agency.as_officer
        )
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        checkpoint_file = download.json()
        assert checkpoint_file["seq"] == 4
        assert checkpoint_file["signature"]
        head_id = checkpoint_file["entry_id"]

        # Identity keeps the anchor in its own append-only log.
        async def identity_anchors() -> list[dict[str, Any]] | None:
            found = await directory.get(
                "/audit/ledger-anchors",
                params={"registration_id": registration},
                headers=compliance.headers,
            )
            assert found.status_code == 200, found.text
            return found.json() or None

        kept_by_identity = await eventually(
            identity_anchors, within=60, message="anchor in identity"
        )
        assert kept_by_identity is not None
        assert [a["seq"] for a in kept_by_identity] == [4]
        intact = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert intact["intact"] is True, intact
        assert intact["anchors_checked"] == 1, intact

        # 1. Edit the dispense and recompute every later hash (no key: plain SHA-256).
        ledger = agency.db()["ledger"]
        originals = [e async for e in ledger.find({"registration_id": registration}).sort("seq", 1)]
        target = dispensed.json()["id"]
        previous = originals[1]["hash"]
        for original in originals[2:]:
            forged = {**original, "prev_hash": previous}
            if forged["_id"] == target:
                forged["quantity_ug"] = 80_000
            forged["hash"] = hashlib.sha256(canonical_json(forged)).hexdigest()
            await ledger.replace_one({"_id": original["_id"]}, forged)
            previous = forged["hash"]
        rewritten = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert rewritten["intact"] is False
        assert rewritten["first_broken"]["entry_id"] == target
        assert "keyed hash" in rewritten["first_broken"]["reason"]
        for original in originals:
            await ledger.replace_one({"_id": original["_id"]}, original)
        assert (await http.get(verify_url, headers=agency.as_officer)).json()["intact"] is True

        # 2. Hide a young entry by setting archived_at directly.
        receipt_id = originals[1]["_id"]
        await ledger.update_one({"_id": receipt_id}, {"$set": {"archived_at": datetime.now(UTC)}})
        listed = await http.get(f"/registrations/{registration}/ledger", headers=agency.as_officer)
        assert receipt_id not in {e["id"] for e in listed.json()["items"]}  # hidden…
        hidden = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert hidden["intact"] is False  # …but named
        assert hidden["first_broken"]["entry_id"] == receipt_id
        assert "archived_at" in hidden["first_broken"]["reason"]
        await ledger.update_one({"_id": receipt_id}, {"$unset": {"archived_at": ""}})

        # 3. Delete the newest entry: the shorter chain is consistent in itself.
        await ledger.delete_one({"_id": head_id})
        truncated = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert truncated["intact"] is False
        assert truncated["first_broken"]["entry_id"] == head_id
        assert "missing" in truncated["first_broken"]["reason"]
        # Even with inventory's own anchors deleted too, identity's copy and the auditor's
        # file still name the deleted entry.
        await agency.db()["ledger_anchors"].delete_many({})
        covered = (await http.get(verify_url, headers=agency.as_officer)).json()
        assert covered["intact"] is True
        assert covered["anchors_checked"] == 0
        for checkpoints in ([checkpoint_file], kept_by_identity):
            against = await http.post(
                verify_url, json={"checkpoints": checkpoints}, headers=agency.as_officer
            )
            assert against.status_code == 200, against.text
            found = against.json()
            assert found["intact"] is False
            assert found["first_broken"]["entry_id"] == head_id
            assert "missing" in found["first_broken"]["reason"]
        # A checkpoint edited to match the shorter chain is not genuine.
        edited = {
            **checkpoint_file,
            "seq": 3,
            "entry_id": target,
            "head_hash": originals[2]["hash"],
        }
        refused = (
            await http.post(verify_url, json={"checkpoints": [edited]}, headers=agency.as_officer)
        ).json()
        assert refused["intact"] is False
        assert refused["forged_anchors"] == [edited["anchor_id"]]
