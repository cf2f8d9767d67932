"""Controlled-substance activity per registration (issue 21, item 4): balances and
movements per product, exact, against figures computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from halcyon.inventory.domain.activity import activity
from halcyon.shared.calendar import site_day
from halcyon.shared.mongo import Document
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import Agency, appointment
from tests.fixtures import StartService

MDMA = {"product_id": "p-mdma", "substance": "MDMA", "schedule": "I", "form": "capsule",
        "strength_ug": 40_000}  # fmt: skip
KETAMINE = {"product_id": "p-ket", "substance": "ketamine", "schedule": "III",
            "form": "vial", "strength_ug": 500_000}  # fmt: skip


def entry(day: date, kind: str, facts: dict[str, Any], **amounts: Any) -> dict[str, Any]:
    return {"kind": kind, "day": day, **facts, **amounts}


def test_activity_by_hand() -> None:
    d = date(2026, 11, 1)
    entries = [
        # Before the period: the opening balance (initial inventory 120 + receipt 800 - 0.3).
        {"kind": "inventory", "inventory_kind": "initial", "day": d - timedelta(days=30),
         "items": [{**MDMA, "counted_ug": 120_000}, {**KETAMINE, "counted_ug": 0}]},
        entry(d - timedelta(days=20), "receipt", MDMA, quantity_ug=800_000),
        entry(d - timedelta(days=1), "waste", MDMA, quantity_ug=300),
        # In the period.
        entry(d, "dispense", MDMA, quantity_ug=120_000),
        entry(d, "dispense", MDMA, quantity_ug=60_000),
        entry(d + timedelta(days=2), "waste", MDMA, quantity_ug=100),
        entry(d + timedelta(days=3), "adjustment", MDMA, quantity_ug=1_500, delta_ug=-1_500),
        entry(d + timedelta(days=4), "transfer_out", MDMA, quantity_ug=40_000),
        entry(d + timedelta(days=5), "count", MDMA, counted_ug=698_100),  # changes nothing
        entry(d + timedelta(days=5), "receipt", KETAMINE, quantity_ug=2_500_000),
        entry(d + timedelta(days=6), "transfer_in", KETAMINE, quantity_ug=500_000),
        entry(d + timedelta(days=6), "adjustment", KETAMINE, quantity_ug=1, delta_ug=1),
        # After the period: not in it.
        entry(d + timedelta(days=40), "receipt", MDMA, quantity_ug=1_000_000),
        {"kind": "inventory", "inventory_kind": "biennial", "day": d, "items": [
            {**MDMA, "counted_ug": 5}]},  # a biennial inventory moves nothing
    ]  # fmt: skip
    rows = activity(entries, lambda e: e["day"], d, d + timedelta(days=29))
    mdma, ketamine = rows
    assert mdma == {
        "product_id": "p-mdma", "substance": "MDMA", "schedule": "I", "form": "capsule",
        "strength_mg": "40", "opening_mg": "919.7", "initial_inventory_mg": "0",
        "receipt_mg": "0", "transfer_in_mg": "0", "dispense_mg": "180", "waste_mg": "0.1",
        "destruction_mg": "0", "return_mg": "0", "transfer_out_mg": "40",
        "adjustment_mg": "-1.5", "closing_mg": "698.1", "dispenses": 2,
    }  # fmt: skip
    assert (ketamine["opening_mg"], ketamine["receipt_mg"], ketamine["transfer_in_mg"],
            ketamine["adjustment_mg"], ketamine["closing_mg"]) == (
        "0", "2500", "500", "0.001", "3000.001")  # fmt: skip
    # The whole history as one period: the initial inventory is a movement in it.
    [whole, _] = activity(
        entries, lambda e: e["day"], d - timedelta(days=60), d + timedelta(days=29)
    )
    assert (whole["opening_mg"], whole["initial_inventory_mg"], whole["receipt_mg"]) == (
        "0", "120", "800")  # fmt: skip
    assert whole["closing_mg"] == mdma["closing_mg"]


@pytest.mark.integration
async def test_the_activity_report_on_a_real_inventory_process(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    inventory = start_service("inventory")
    agency = Agency(
        inventory.url, servers.kafka_bootstrap, topic_prefix, f"t_{unique}_inventory",
        token_issuer, mongo_client,
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=inventory.url, timeout=60) as http:
        await agency.set_up(http, stock_mg=800)
        await agency.receive(http, agency.lot_id, "100.25")
        await agency.announce([appointment("appt-1", agency.site, "client-1", [agency.nurse])])
        await agency.wait_for("appointments", 1)
        dosed = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert dosed.status_code == 201, dosed.text
        wasted = await http.post(
            "/wastes",
            json={"lot_id": agency.lot_id, "location_id": agency.location_id,
                  "quantity_mg": "0.3", "method": "rendered unrecoverable", "reason": "residue",
                  "witness_ids": [agency.witness, agency.witness2]},
            headers=agency.as_nurse,
        )  # fmt: skip
        assert wasted.status_code == 201, wasted.text

        # By hand, in Denver's days: 800 + 100.25 in, 120 dispensed, 0.3 wasted.
        today = site_day(datetime.now(UTC), "America/Denver")
        report_path = f"/registrations/{agency.registration_id}/reports/activity"
        got = await http.get(
            report_path, params={"from": today.isoformat(), "to": today.isoformat()},
            headers=agency.as_officer,
        )  # fmt: skip
        assert got.status_code == 200, got.text
        [row] = got.json()["rows"]
        assert (row["substance"], row["opening_mg"], row["receipt_mg"], row["dispense_mg"],
                row["waste_mg"], row["closing_mg"], row["dispenses"]) == (
            "MDMA", "0", "900.25", "120", "0.3", "779.95", 1)  # fmt: skip
        assert await agency.balance_ug() == 779_950  # the report agrees with the book

        tomorrow = (today + timedelta(days=1)).isoformat()
        later = await http.get(
            report_path, params={"from": tomorrow, "to": tomorrow, "format": "csv"},
            headers=agency.as_officer,
        )  # fmt: skip
        assert later.headers["content-type"].startswith("text/csv")
        header, line = later.text.splitlines()
        assert header.startswith("substance,schedule,form,strength_mg,opening_mg,")
        assert line.startswith("MDMA,I,capsule,40,779.95,0,0,0,0,0,0,0,0,0,779.95,0,")

        backwards = await http.get(
            report_path, params={"from": tomorrow, "to": today.isoformat()},
            headers=agency.as_officer,
        )  # fmt: skip
        assert backwards.status_code == 422
        therapist = agency.headers(agency.witness2, "therapist")
        refused = await http.get(
            report_path, params={"from": tomorrow, "to": tomorrow}, headers=therapist
        )
        assert refused.status_code == 403
        stranger = token_issuer.headers(
            tenant_id=f"other-{unique}", roles=[(agency.site, "compliance_officer")]
        )
        hidden = await http.get(
            report_path, params={"from": tomorrow, "to": tomorrow}, headers=stranger
        )
        assert hidden.status_code == 404
