"""Counts, discrepancies and their DEA deadlines; the events notifications and clinical
read; and the reports an inspector asks for, with every required field."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from halcyon.inventory.domain.deadlines import site_date, theft_loss_deadlines
from halcyon.inventory.reporting import BIENNIAL_INVENTORY, DISPENSING_LOG, LEDGER
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.mongo import Document
from halcyon.shared.partners import PartnerGrant, grant_topic_prefix, provision_partner
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import NEXT_YEAR, Agency, appointment, read_events
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


def _pdf_text(content: bytes) -> str:
    """The text drawn on the pages (uncompressed streams), with whitespace removed, since
    table cells wrap their words across lines."""
    drawn = re.findall(rb"\((.*?)(?<!\\)\) Tj", content)
    text = b"".join(drawn).replace(b"\\(", b"(").replace(b"\\)", b")").decode("latin-1")
    return re.sub(r"\s+", "", text)


def _csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


async def test_count_discrepancy_deadlines_events_and_reports(
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
    officer = agency.as_officer
    async with httpx.AsyncClient(base_url=inventory.url, timeout=60) as http:
        await agency.set_up(http, stock_mg=800)
        # A Schedule III product on the same registration, for the schedule separation.
        esketamine = await agency.create(
            http,
            "/products",
            {
                "substance": "esketamine",
                "schedule": "III",
                "form": "nasal spray device",
                "strength_mg": 28,
                "units_per_container": 1,
                "ndc": "50458-028-02",
            },
        )
        spray_lot = await agency.new_lot(http, "ESK-9", NEXT_YEAR, product_id=esketamine)
        await agency.receive(http, spray_lot, 280)
        await agency.announce(
            [
                ClientRegistered(
                    client_id="client-1",
                    home_site_id=agency.site,
                    given_name="Ada",
                    family_name="Lovelace",
                    date_of_birth=date(1985, 12, 10),
                ),
                appointment("appt-1", agency.site, "client-1", [agency.nurse]),
                appointment(
                    "appt-2",
                    agency.site,
                    "client-1",
                    [agency.nurse],
                    protocol_id="esketamine-trd",
                    appointment_type="esketamine_dosing",
                ),
            ]
        )
        await agency.wait_for("appointments", 2)
        await agency.wait_for("clients", 1)
        mdma = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert mdma.status_code == 201, mdma.text
        spray = await http.post(
            "/dispenses",
            json={**agency.dose("appt-2", 56), "lot_id": spray_lot},
            headers=agency.as_nurse,
        )
        assert spray.status_code == 201, spray.text

        # Clinical attaches the dispensed dose to the dosing note: the event carries it.
        dispensed = await read_events(
            servers.kafka_bootstrap, f"{topic_prefix}inventory.dispense.v1", want=2
        )
        by_entry = {e.data["ledger_entry_id"]: e.data for e in dispensed}
        assert by_entry[mdma.json()["id"]] | {"administered_at": None} == {
            "ledger_entry_id": mdma.json()["id"],
            "registration_id": agency.registration_id,
            "site_id": agency.site,
            "client_id": "client-1",
            "appointment_id": "appt-1",
            "substance": "MDMA",
            "product_id": agency.product_id,
            "lot_id": agency.lot_id,
            "quantity_mg": 120.0,
            "quantity_ug": 120_000,
            "supplemental": False,
            "administered_by": agency.nurse,
            "witness_id": agency.witness,
            "prescriber_id": agency.prescriber,
            "administered_at": None,
        }

        # Research registries get a separate, minimum-necessary feed (partner topic),
        # read here as a partner would: SASL/SCRAM credentials, ACL-limited to it.
        feed_topic = f"{topic_prefix}partner.registry.dose.v1"
        feed = await read_partner_feed(servers, feed_topic, want=2)
        mdma_report = next(r for r in feed if r["substance"] == "MDMA")
        assert set(mdma_report) == {
            "report_id",
            "participant",
            "protocol_id",
            "substance",
            "quantity_mg",
            "supplemental",
            "administered_on",
        }  # no name, record number, client id, clinician or exact time
        assert mdma_report["protocol_id"] == "mdma-ptsd"
        assert mdma_report["quantity_mg"] == 120.0
        assert "client-1" not in json.dumps(feed)
        assert len({r["participant"] for r in feed}) == 1  # one participant, one pseudonym

        # v2 (exact dose with unit, route) is published alongside v1 in the same write:
        # exactly one of each per dose, same report id, participant and facts.
        feed_v2 = await read_partner_feed(
            servers, f"{topic_prefix}partner.registry.dose.v2", want=2
        )
        # One report per dose, and its id is a keyed hash, not the ledger entry id (a
        # UUIDv7 would tell the registry the exact time of the dose).
        assert len({r["report_id"] for r in feed}) == 2
        assert not {r["report_id"] for r in feed} & {mdma.json()["id"], spray.json()["id"]}
        assert sorted(r["report_id"] for r in feed_v2) == sorted(r["report_id"] for r in feed)
        v1_by_report = {r["report_id"]: r for r in feed}
        for v2 in feed_v2:
            v1 = v1_by_report[v2["report_id"]]
            assert {k: v for k, v in v1.items() if k != "quantity_mg"} == {
                k: v for k, v in v2.items() if k not in {"dose", "route"}
            }
            assert float(v2["dose"]["amount"]) == v1["quantity_mg"]
        routes = {r["substance"]: (r["dose"], r["route"]) for r in feed_v2}
        assert routes == {
            "MDMA": ({"amount": "120", "unit": "mg"}, "oral"),
            "esketamine": ({"amount": "56", "unit": "mg"}, "intranasal"),
        }

        # A closing count 80 mg short of the book, suspected theft: discrepancy + deadlines.
        count = {"lot_id": agency.lot_id, "location_id": agency.location_id, "kind": "closing"}
        short = await http.post(
            "/counts",
            json={**count, "counted_mg": 600, "suspected_theft_or_loss": True},
            headers=agency.as_nurse,
        )
        assert short.status_code == 201, short.text
        result = short.json()
        assert result["entry"]["book_mg"] == "680"
        assert result["entry"]["difference_mg"] == "-80"
        discrepancy = result["discrepancy"]
        assert discrepancy["expected_mg"] == "680"
        assert discrepancy["counted_mg"] == "600"
        assert discrepancy["status"] == "open"
        recorded_at = datetime.fromisoformat(result["entry"]["recorded_at"])
        due = theft_loss_deadlines(site_date(recorded_at, "America/Denver"))
        assert {d["kind"]: d["due_on"] for d in result["deadlines"]} == {
            k: v.isoformat() for k, v in due.items()
        }
        listed = await http.get(
            "/deadlines",
            params={"discrepancy_id": discrepancy["id"], "status": "open"},
            headers=officer,
        )
        assert len(listed.json()["items"]) == 2

        # A matching count opens nothing; an estimate of Schedule I is refused.
        exact = await http.post(
            "/counts", json={**count, "counted_mg": 680}, headers=agency.as_nurse
        )
        assert exact.status_code == 201
        assert exact.json()["discrepancy"] is None
        estimate = await http.post(
            "/counts", json={**count, "counted_mg": 680, "estimated": True}, headers=agency.as_nurse
        )
        assert estimate.status_code == 422
        assert "exactly" in estimate.text

        # The discrepancy stays open until both DEA deadlines are met.
        close_url = f"/discrepancies/{discrepancy['id']}/close"
        early = await http.post(
            close_url, json={"resolution": "found in returns bin"}, headers=officer
        )
        assert early.status_code == 409
        assert "still open" in early.text
        for deadline in result["deadlines"]:
            done = await http.post(
                f"/deadlines/{deadline['id']}/done",
                json={"reference": "DEA-106-000042"},
                headers=officer,
            )
            assert done.status_code == 200, done.text
        closed = await http.post(
            close_url, json={"resolution": "reported; police report filed"}, headers=officer
        )
        assert closed.status_code == 200
        assert closed.json()["status"] == "closed"

        # The compliance officer books the loss; it takes the lot below its threshold.
        adjusted = await http.post(
            "/adjustments",
            json={
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "delta_mg": -520,
                "reason": "loss reported on Form 106",
                "discrepancy_id": discrepancy["id"],
            },
            headers=officer,
        )
        assert adjusted.status_code == 201, adjusted.text
        assert await agency.balance() == 160

        alerts = await read_events(
            servers.kafka_bootstrap, f"{topic_prefix}inventory.alert.v1", want=4
        )
        types = sorted(e.type for e in alerts)
        assert types == [
            "halcyon.inventory.deadline.due.v1",
            "halcyon.inventory.deadline.due.v1",
            "halcyon.inventory.discrepancy.opened.v1",
            "halcyon.inventory.stock.low.v1",
        ]
        low = next(e.data for e in alerts if e.type.endswith("stock.low.v1"))
        assert low["balance"] == 160
        assert low["threshold"] == 200

        # Biennial inventory: the counts of every lot on hand.
        biennial = await http.post(
            f"/registrations/{agency.registration_id}/inventories",
            json={
                "kind": "biennial",
                "taken_at": "closing",
                "items": [
                    {"lot_id": agency.lot_id, "location_id": agency.location_id, "counted_mg": 160},
                    {"lot_id": spray_lot, "location_id": agency.location_id, "counted_mg": 224},
                ],
            },
            headers=officer,
        )
        assert biennial.status_code == 201, biennial.text
        assert biennial.json()["discrepancy"] is None

        reports = f"/registrations/{agency.registration_id}/reports"
        # Dispensing log, Schedule I-II: every 1304.22(c) column, nothing from III-V.
        log = await http.get(
            f"{reports}/dispensing-log",
            params={"schedules": "I-II", "format": "csv"},
            headers=officer,
        )
        assert log.status_code == 200
        assert log.headers["content-type"].startswith("text/csv")
        rows = _csv(log.content)
        assert list(rows[0]) == [c.title for c in DISPENSING_LOG]
        assert len(rows) == 1
        [row] = rows
        assert all(row[c.title] for c in DISPENSING_LOG if c.key != "client_address")
        assert row["Substance"] == "MDMA"
        assert row["Schedule"] == "I"
        assert row["Dispensed to (name)"] == "Ada Lovelace"
        assert row["Quantity dispensed (mg)"] == "120"
        assert row["Units dispensed"] == "3"
        assert row["Finished form"] == "capsule"
        assert row["Strength (mg)"] == "40"
        assert row["Registrant DEA number"] == "RD1234567"
        assert row["Date dispensed"].endswith(("MST", "MDT"))  # the Denver site's local time
        assert row["Prescriber DEA number"] == "BP1234563"
        assert "Nurse" in row["Dispensed/administered by"]
        assert "esketamine" not in log.text

        other = await http.get(
            f"{reports}/dispensing-log",
            params={"schedules": "III-V", "format": "csv"},
            headers=officer,
        )
        assert [r["Substance"] for r in _csv(other.content)] == ["esketamine"]

        pdf = await http.get(
            f"{reports}/dispensing-log",
            params={"schedules": "I-II", "format": "pdf"},
            headers=officer,
        )
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        text = _pdf_text(pdf.content)
        assert "AdaLovelace" in text
        assert "MDMA" in text
        assert "RD1234567" in text
        assert "esketamine" not in text
        for column in DISPENSING_LOG:
            assert re.sub(r"\s+", "", column.title) in text

        inventory_report = await http.get(
            f"{reports}/biennial-inventory", params={"schedules": "I-II"}, headers=officer
        )
        [item] = _csv(inventory_report.content)
        assert list(item) == [c.title for c in BIENNIAL_INVENTORY]
        assert item["Substance"] == "MDMA"
        assert item["Quantity (mg)"] == "160"
        assert item["Units"] == "4"
        assert item["Opening/close of business"] == "closing of business"
        inventory_pdf = await http.get(
            f"{reports}/biennial-inventory",
            params={"schedules": "III-V", "format": "pdf"},
            headers=officer,
        )
        inventory_text = _pdf_text(inventory_pdf.content)
        assert "esketamine" in inventory_text
        assert "MDMA" not in inventory_text
        for column in BIENNIAL_INVENTORY:
            assert re.sub(r"\s+", "", column.title) in inventory_text

        history = await http.get(
            f"/lots/{agency.lot_id}/history", params={"format": "json"}, headers=officer
        )
        kinds = [r["kind"] for r in history.json()["rows"]]
        assert kinds == ["receipt", "dispense", "count (closing)", "count (closing)", "adjustment"]
        assert [r["change_mg"] for r in history.json()["rows"]] == ["800", "-120", "", "", "-520"]
        history_csv = await http.get(f"/lots/{agency.lot_id}/history", headers=officer)
        assert history_csv.status_code == 200
        assert "CSOS-2026-000123" in history_csv.text

        verified = await http.get(
            f"/registrations/{agency.registration_id}/ledger/verify", headers=officer
        )
        assert verified.json()["intact"] is True

        # The whole ledger leaves as CSV in chain order, hashes included, so the chain can
        # be re-verified outside Halcyon; Schedule I-II only, as the records are kept.
        ledger_csv = await http.get(
            f"{reports}/ledger", params={"schedules": "I-II"}, headers=officer
        )
        assert ledger_csv.status_code == 200
        assert ledger_csv.headers["content-type"].startswith("text/csv")
        ledger_rows = _csv(ledger_csv.content)
        assert list(ledger_rows[0]) == [c.title for c in LEDGER]
        assert {r["Schedule"] for r in ledger_rows} == {"I"}
        seqs = [int(r["Seq"]) for r in ledger_rows]
        assert seqs == sorted(seqs)
        lot_rows = [r for r in ledger_rows if r["Lot"] == history.json()["rows"][0]["lot_number"]]
        assert [r["Change (mg)"] for r in lot_rows] == ["800", "-120", "", "", "-520"]
        chain = await http.get(
            f"/registrations/{agency.registration_id}/ledger",
            params={"limit": 200},
            headers=officer,
        )
        entries = {e["id"]: e for e in chain.json()["items"]}
        for row in ledger_rows:
            assert row["Hash"] == entries[row["Ledger entry"]]["hash"]
            assert row["Previous hash"] == entries[row["Ledger entry"]]["prev_hash"]


async def read_partner_feed(servers: Servers, topic: str, want: int) -> list[dict[str, Any]]:
    """The registry feed's events, read with a partner principal when the broker has the
    partner listener (the project's launcher), else on the internal listener."""
    if not servers.partner_bootstrap:
        return [e.data for e in await read_events(servers.kafka_bootstrap, topic, want=want)]
    audience = topic.split("partner.", 1)[1].split(".")[0]  # e.g. "registry"
    prefix = topic.split("partner.")[0]
    grant = PartnerGrant(name=f"registry-{uuid.uuid4().hex[:6]}", audience=audience)
    password = uuid.uuid4().hex
    provision_partner(servers.kafka_bootstrap, grant, password)
    # Tests put a per-run prefix before partner.<audience>.: grant that prefix too.
    grant_topic_prefix(servers.kafka_bootstrap, grant, prefix + grant.topic_prefix)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers.partner_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=grant.name,
        sasl_plain_password=password,
        group_id=f"{grant.group_prefix}-feed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(json.loads(r.value)["data"] for r in records)
            return len(found) >= want

        await eventually(enough, within=60, interval=0, message=f"{want} reports on {topic}")
    finally:
        await consumer.stop()
    return found
