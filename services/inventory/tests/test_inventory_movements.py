"""Transfers between sites (both ledgers), destruction on Form 41 data, returns, and the
biennial-inventory alert; identity's later events replace earlier ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from halcyon.shared.contracts.identity import DeaRegistration, SiteChanged, StaffMemberChanged
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import NEXT_YEAR, TODAY, Agency, read_events
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_transfer_destruction_return_and_biennial_alert(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    inventory = start_service("inventory", HALCYON_INVENTORY_COMPLIANCE_SWEEP_SECONDS="0.5")
    agency = Agency(
        inventory.url,
        servers.kafka_bootstrap,
        topic_prefix,
        f"t_{unique}_inventory",
        token_issuer,
        mongo_client,
    )
    officer = agency.headers(agency.officer, "compliance_officer", "agency_admin")
    async with httpx.AsyncClient(base_url=inventory.url, timeout=60) as http:
        await agency.set_up(http, stock_mg=800)
        boulder = "site-boulder"
        await agency.announce(
            [SiteChanged(site_id=boulder, name="Boulder", timezone="America/Denver")]
        )
        await agency.wait_for("sites", 2)
        both_sites = agency.issuer.headers(
            tenant_id=agency.tenant,
            user_id=agency.officer,
            roles=[
                (s, r)
                for s in (agency.site, boulder)
                for r in ("compliance_officer", "agency_admin")
            ],
        )
        other = await http.post(
            "/registrations",
            json={
                "site_id": boulder,
                "dea_number": "RB7654321",
                "registrant_name": "Halcyon Boulder",
                "kind": "researcher",
                "schedules": ["I", "II"],
                "protocol_id": "mdma-ptsd",
                "expires_on": NEXT_YEAR.isoformat(),
            },
            headers=both_sites,
        )
        assert other.status_code == 201, other.text
        other_id = other.json()["id"]
        other_safe = (
            await http.post(
                "/locations",
                json={"registration_id": other_id, "name": "Boulder safe", "kind": "safe"},
                headers=both_sites,
            )
        ).json()["id"]

        transfer = {
            "lot_id": agency.lot_id,
            "from_location_id": agency.location_id,
            "to_location_id": other_safe,
            "quantity_mg": 240,
        }
        early = await http.post(
            "/transfers", json={**transfer, "order_form_number": "222-76"}, headers=both_sites
        )
        assert early.status_code == 422
        assert "initial inventory" in early.text
        # An initial inventory claimed long ago by an operation that died before writing
        # its entry does not count, and does not block taking it now.
        await agency.db()["registrations"].update_one(
            {"_id": other_id},
            {
                "$set": {
                    "initial_inventory_op": "crashed-op",
                    "initial_inventory_on": TODAY.isoformat(),
                    "initial_inventory_claimed_at": datetime.now(UTC) - timedelta(minutes=10),
                }
            },
        )
        ghost = await http.post(
            "/transfers", json={**transfer, "order_form_number": "222-76"}, headers=both_sites
        )
        assert ghost.status_code == 422
        assert "initial inventory" in ghost.text
        take = {"kind": "initial", "taken_at": "opening", "items": []}
        initial = await http.post(
            f"/registrations/{other_id}/inventories", json=take, headers=both_sites
        )
        assert initial.status_code == 201, initial.text
        twice = await http.post(
            f"/registrations/{other_id}/inventories", json=take, headers=both_sites
        )
        assert twice.status_code == 409
        assert "already has its initial inventory" in twice.text
        no_form = await http.post("/transfers", json=transfer, headers=both_sites)
        assert no_form.status_code == 422
        assert "Form 222" in no_form.text
        moved = await http.post(
            "/transfers", json={**transfer, "order_form_number": "222-77"}, headers=both_sites
        )
        assert moved.status_code == 201, moved.text
        sent, received = moved.json()
        assert sent["kind"] == "transfer_out"
        assert received["kind"] == "transfer_in"
        assert sent["registration_id"] == agency.registration_id
        assert received["registration_id"] == other_id
        assert sent["counterpart_entry_id"] == received["id"]
        assert sent["to_dea_number"] == "RB7654321"
        assert received["from_dea_number"] == "RD1234567"
        assert await agency.balance() == 560
        boulder_balances = await http.get(f"/registrations/{other_id}/balances", headers=both_sites)
        assert [b["qty_mg"] for b in boulder_balances.json()["items"]] == ["240"]

        destruction = {
            "lot_id": agency.lot_id,
            "location_id": agency.location_id,
            "quantity_mg": 80,
            "method": "incineration by reverse distributor",
            "reason": "damaged capsules",
            "destroyed_on": TODAY.isoformat(),
            "location_of_destruction": "Denver pharmacy",
            "form_41_reference": "F41-2026-0007",
        }
        alone = await http.post(
            "/destructions", json={**destruction, "witness_ids": [agency.witness]}, headers=officer
        )
        assert alone.status_code == 422
        destroyed = await http.post(
            "/destructions",
            json={**destruction, "witness_ids": [agency.witness, agency.witness2]},
            headers=officer,
        )
        assert destroyed.status_code == 201, destroyed.text
        assert destroyed.json()["form_41_reference"] == "F41-2026-0007"

        returned = await http.post(
            "/returns",
            json={
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": 80,
                "returned_to": "Research Supply Co",
                "returned_to_dea_number": "RS7654321",
                "order_form_number": "222-78",
            },
            headers=officer,
        )
        assert returned.status_code == 201, returned.text
        assert await agency.balance() == 400
        too_much = await http.post(
            "/returns",
            json={
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": 401,
                "returned_to": "Research Supply Co",
                "returned_to_dea_number": "RS7654321",
                "order_form_number": "222-79",
            },
            headers=officer,
        )
        assert too_much.status_code == 409
        assert await agency.balance() == 400

        for registration in (agency.registration_id, other_id):
            verified = await http.get(
                f"/registrations/{registration}/ledger/verify", headers=both_sites
            )
            assert verified.json()["intact"] is True

        # The last inventory was nearly two years ago: an alert a month ahead (1304.11(c)).
        last = TODAY - timedelta(days=2 * 365 - 20)
        await agency.db()["registrations"].update_one(
            {"_id": agency.registration_id}, {"$set": {"last_inventory_on": last.isoformat()}}
        )
        # Boulder's registration lapses in 20 days: renew it (1301.13).
        await agency.db()["registrations"].update_one(
            {"_id": other_id},
            {"$set": {"expires_on": (TODAY + timedelta(days=20)).isoformat()}},
        )
        alerts = await read_events(
            servers.kafka_bootstrap, f"{topic_prefix}inventory.alert.v1", want=2
        )
        by_kind = {a.data["kind"]: a.data for a in alerts}
        assert set(by_kind) == {"biennial_inventory", "registration_expiry"}
        biennial = by_kind["biennial_inventory"]
        assert biennial["due_on"] == (last + timedelta(days=730)).isoformat()
        assert biennial["overdue"] is False
        assert by_kind["registration_expiry"]["due_on"] == (TODAY + timedelta(days=20)).isoformat()
        tracked = await http.get("/deadlines", params={"status": "open"}, headers=both_sites)
        assert {d["kind"] for d in tracked.json()["items"]} == {
            "biennial_inventory",
            "registration_expiry",
        }
        # Taking the biennial inventory meets its deadline.
        taken = await http.post(
            f"/registrations/{agency.registration_id}/inventories",
            json={
                "kind": "biennial",
                "taken_at": "closing",
                "items": [
                    {"lot_id": agency.lot_id, "location_id": agency.location_id, "counted_mg": 400}
                ],
            },
            headers=officer,
        )
        assert taken.status_code == 201, taken.text
        tracked = await http.get("/deadlines", params={"status": "open"}, headers=both_sites)
        assert {d["kind"] for d in tracked.json()["items"]} == {"registration_expiry"}

        # Identity revokes the nurse's role: she can no longer witness.
        await agency.announce(
            [
                StaffMemberChanged(
                    staff_id=agency.witness, display_name="Witness", roles=[], active=False
                )
            ]
        )

        async def revoked() -> bool:
            doc = await agency.db()["staff"].find_one({"_id": agency.witness})
            return bool(doc and doc["active"] is False)

        await eventually(revoked, message="the staff change reached inventory")
        after = await http.post(
            "/destructions",
            json={**destruction, "witness_ids": [agency.witness, agency.witness2]},
            headers=officer,
        )
        assert after.status_code == 422
        assert "not an active staff member" in after.text
        # A newer personnel file with a renewed DEA registration replaces the old one.
        await agency.announce(
            [
                StaffMemberChanged(
                    staff_id=agency.lapsed_prescriber,
                    display_name="Renewed",
                    roles=[{"site": agency.site, "role": "prescriber"}],
                    dea_registrations=[
                        DeaRegistration(number="BL7654321", schedules=["I"], expires_on=NEXT_YEAR)
                    ],
                )
            ]
        )

        async def renewed() -> bool:
            doc = await agency.db()["staff"].find_one({"_id": agency.lapsed_prescriber})
            return bool(doc and doc["display_name"] == "Renewed")

        await eventually(renewed, message="the renewal reached inventory")
