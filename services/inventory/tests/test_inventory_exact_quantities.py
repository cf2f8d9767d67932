"""Exact milligrams end to end (ADR 0502), on the real service, Kafka and FerretDB: the
bug report's float ledger (ten 0.1 mg wastes from 1.0 mg left 1.4e-16 mg; 3 x 0.3 mg
then 0.1 mg was refused) cannot happen, and reports show the exact figures."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import TODAY, Agency
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_wastes_of_tenths_of_a_milligram_add_up_exactly(
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
        await agency.set_up(http, stock_mg=1.0)

        def waste(quantity: Any, lot_id: str | None = None) -> dict[str, Any]:
            return {
                "lot_id": lot_id or agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": quantity,
                "method": "rendered unrecoverable (Rx Destroyer)",
                "reason": "residue",
                "witness_ids": [agency.witness, agency.witness2],
            }

        for _ in range(10):
            wasted = await http.post("/wastes", json=waste(0.1), headers=agency.as_nurse)
            assert wasted.status_code == 201, wasted.text
            assert wasted.json()["quantity_mg"] == "0.1"
        assert await agency.balance_ug() == 0
        balances = await http.get(
            f"/registrations/{agency.registration_id}/balances", headers=agency.as_officer
        )
        assert [b["qty_mg"] for b in balances.json()["items"]] == ["0"]
        # Nothing left means nothing: an eleventh waste is refused, a count of 0 matches.
        empty = await http.post("/wastes", json=waste("0.001"), headers=agency.as_nurse)
        assert empty.status_code == 409, empty.text
        count = await http.post(
            "/counts",
            json={
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "kind": "closing",
                "counted_mg": 0,
            },
            headers=agency.as_nurse,
        )
        assert count.status_code == 201, count.text
        assert count.json()["entry"]["book_mg"] == "0"
        assert count.json()["discrepancy"] is None

        # 3 x 0.3 mg, then the last 0.1 mg, from another 1 mg lot.
        second = await agency.new_lot(http, "MD-002", TODAY.replace(year=TODAY.year + 1))
        await agency.receive(http, second, "1.000")
        for quantity in ("0.3", 0.3, "0.300"):
            taken = await http.post(
                "/wastes", json=waste(quantity, second), headers=agency.as_nurse
            )
            assert taken.status_code == 201, taken.text
        last = await http.post("/wastes", json=waste(0.1, second), headers=agency.as_nurse)
        assert last.status_code == 201, last.text

        # Inexact input is refused and writes nothing.
        for bad in ("0.0001", 0.30000000000000004, "1e-7", "a lot"):
            refused = await http.post("/wastes", json=waste(bad, second), headers=agency.as_nurse)
            assert refused.status_code == 422, (bad, refused.text)

        # The lot history shows exact figures, in the JSON, CSV and PDF reports alike.
        history = await http.get(
            f"/lots/{agency.lot_id}/history", params={"format": "json"}, headers=agency.as_officer
        )
        assert history.status_code == 200, history.text
        changes = [r["change_mg"] for r in history.json()["rows"]]
        assert changes == ["1", *["-0.1"] * 10, ""]
        assert "count (closing)" in history.json()["rows"][-1]["kind"]
        assert "book 0 mg, counted 0 mg" in history.json()["rows"][-1]["detail"]
        csv_history = await http.get(f"/lots/{second}/history", headers=agency.as_officer)
        rows = list(csv.DictReader(io.StringIO(csv_history.text)))
        assert [r["Change (mg)"] for r in rows] == ["1", "-0.3", "-0.3", "-0.3", "-0.1"]
        ledger = await http.get(
            f"/registrations/{agency.registration_id}/ledger",
            params={"limit": 100},
            headers=agency.as_officer,
        )
        quantities = [e.get("quantity_mg") for e in ledger.json()["items"] if e["kind"] == "waste"]
        assert quantities == ["0.1"] * 10 + ["0.3"] * 3 + ["0.1"]


async def test_a_liquid_measured_in_millilitres_is_recorded_in_exact_milligrams(
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
        await agency.set_up(http, stock_mg=0)
        ketamine = await agency.create(
            http,
            "/products",
            {
                "substance": "ketamine",
                "schedule": "III",
                "form": "injection, 10 mL vial",
                "strength_mg": "500",
                "units_per_container": 1,
                "concentration_mg_per_ml": "50",
            },
        )
        lot = await agency.new_lot(http, "KT-1", TODAY.replace(year=TODAY.year + 1), ketamine)
        await agency.receive(http, lot, "500")

        def waste(**quantity: Any) -> dict[str, Any]:
            return {
                "lot_id": lot,
                "location_id": agency.location_id,
                **quantity,
                "method": "rendered unrecoverable",
                "reason": "unused portion of a drawn dose",
                "witness_ids": [agency.witness, agency.witness2],
            }

        wasted = await http.post("/wastes", json=waste(quantity_ml="0.25"), headers=agency.as_nurse)
        assert wasted.status_code == 201, wasted.text
        assert wasted.json()["quantity_mg"] == "12.5"
        assert wasted.json()["quantity_ug"] == 12_500
        both = await http.post(
            "/wastes", json=waste(quantity_ml="1", quantity_mg="50"), headers=agency.as_nurse
        )
        assert both.status_code == 422
        # MDMA capsules have no concentration: millilitres mean nothing there.
        capsules = await http.post(
            "/wastes",
            json={**waste(quantity_ml="1"), "lot_id": agency.lot_id},
            headers=agency.as_nurse,
        )
        assert capsules.status_code == 422
        assert "concentration" in capsules.text
