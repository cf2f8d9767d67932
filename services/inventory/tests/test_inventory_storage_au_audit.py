"""On the real service and Kafka: Schedule I stock only into registered, locked storage
(21 CFR 1301.75(b)); at an Australian site MDMA only under a TGA authorised-prescriber
approval for PTSD (ADR 0504); and every refusal and every read of client data in the
access audit (HIPAA 45 CFR 164.312(b))."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from halcyon.inventory.app import wiring
from halcyon.shared.contracts.identity import (
    AuthorisedPrescriberApproval,
    DeaRegistration,
    SiteChanged,
    StaffMemberChanged,
)
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import Document
from halcyon.shared.testing.audit_walk import audited_request_ids, get_routes, walk
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import NEXT_YEAR, TODAY, Agency, appointment
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
# Stock, counts, deadlines, registrations and the chain's checkpoints name no client.
WITHOUT_CLIENT_DATA = {
    "/deadlines",
    "/discrepancies",
    "/discrepancies/{discrepancy_id}",
    "/ledger/checkpoint-key",
    "/lots/{lot_id}",
    "/products",
    "/registrations",
    "/registrations/{registration_id}",
    "/registrations/{registration_id}/balances",
    "/registrations/{registration_id}/ledger/checkpoint",
    "/registrations/{registration_id}/ledger/verify",
    "/registrations/{registration_id}/reports/biennial-inventory",
    "/registrations/{registration_id}/reports/activity",  # amounts per product
}


async def audit_trail(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every access audit published so far (read from the start of the topic)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"audit-reader-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=700)
            records = [r for rs in batch.values() for r in rs]
            idle = 0 if records else idle + 1
            found += [EventEnvelope.from_bytes(r.value).data for r in records]
    finally:
        await consumer.stop()
    return found


async def test_storage_australian_prescribers_and_the_audit_of_refusals_and_reads(
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
        receipt = {
            "lot_id": agency.lot_id,
            "location_id": agency.location_id,
            "quantity_mg": "40",
            "received_on": TODAY.isoformat(),
            "order_form_number": "CSOS-2026-000124",
        }

        # -- storage: an open shelf, and the safe while it is recorded as unlocked -------
        shelf = await agency.create(
            http,
            "/locations",
            {
                "registration_id": agency.registration_id,
                "name": "Open shelf",
                "kind": "other",
                "locked": False,
            },
        )
        onto_shelf = await http.post(
            "/receipts", json={**receipt, "location_id": shelf}, headers=agency.as_officer
        )
        assert onto_shelf.status_code == 422, onto_shelf.text
        assert onto_shelf.json()["rule"] == "21 CFR 1301.75(b)"
        lock = f"/locations/{agency.location_id}/lock-state"
        broken = await http.post(
            lock, json={"locked": False, "note": "lock forced"}, headers=agency.as_officer
        )
        assert broken.status_code == 200
        assert broken.json()["locked"] is False
        into_open_safe = await http.post("/receipts", json=receipt, headers=agency.as_officer)
        assert into_open_safe.status_code == 422
        assert "unlocked" in into_open_safe.text
        await http.post(lock, json={"locked": True, "note": "new lock"}, headers=agency.as_officer)
        received = await http.post("/receipts", json=receipt, headers=agency.as_officer)
        assert received.status_code == 201, received.text

        # -- refusals: a validation refusal and a role refusal ---------------------------
        inexact = await http.post(
            "/receipts", json={**receipt, "quantity_mg": "0.0001"}, headers=agency.as_officer
        )
        assert inexact.status_code == 422
        therapist = agency.headers(agency.witness2, "therapist")
        not_a_handler = await http.post(
            "/wastes",
            json={
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": "1",
                "method": "m",
                "reason": "r",
                "witness_ids": [agency.witness, agency.nurse],
            },
            headers=therapist,
        )
        assert not_a_handler.status_code == 403

        # -- Australia: the site is in Victoria; MDMA needs the approval for PTSD --------
        [moved] = await agency.announce(
            [
                SiteChanged(
                    site_id=agency.site,
                    name="Melbourne",
                    timezone="Australia/Melbourne",
                    jurisdiction="AU-VIC",
                )
            ]
        )
        await agency.wait_processed(moved)
        await agency.announce([appointment("appt-au", agency.site, "client-au", [agency.nurse])])
        await agency.wait_for("appointments", 1)
        refused = await http.post(
            "/dispenses", json=agency.dose("appt-au", 120), headers=agency.as_nurse
        )
        assert refused.status_code == 422, refused.text
        assert "authorised-prescriber approval" in refused.json()["detail"]
        assert "12B" in refused.json()["rule"]
        [approved] = await agency.announce(
            [
                StaffMemberChanged(
                    staff_id=agency.prescriber,
                    display_name="Prescriber",
                    roles=[{"site": agency.site, "role": "prescriber"}],
                    dea_registrations=[
                        DeaRegistration(
                            number="BP1234563",
                            schedules=["I", "II", "III", "IV", "V"],
                            expires_on=NEXT_YEAR,
                        )
                    ],
                    authorised_prescriber_approvals=[
                        AuthorisedPrescriberApproval(
                            drug="MDMA",
                            ethics_approval="HREC-2026-117",
                            expires_on=NEXT_YEAR,
                            indication="PTSD",
                        )
                    ],
                )
            ]
        )
        await agency.wait_processed(approved)
        dispensed = await http.post(
            "/dispenses", json=agency.dose("appt-au", 120), headers=agency.as_nurse
        )
        assert dispensed.status_code == 201, dispensed.text

        # -- reads of client data: the lot history names client-au ----------------------
        history = await http.get(
            f"/lots/{agency.lot_id}/history", params={"format": "json"}, headers=agency.as_officer
        )
        assert history.status_code == 200
        ledger = await http.get(
            f"/registrations/{agency.registration_id}/ledger", headers=agency.as_officer
        )
        assert ledger.status_code == 200

        # -- every GET route (from the app's wiring): those that show client-au's data
        # each leave an entry naming the client; the rest are declared free of it.
        reports = f"/registrations/{agency.registration_id}/reports"
        client_reads = {
            "/lots/{lot_id}/history": f"/lots/{agency.lot_id}/history",
            "/registrations/{registration_id}/ledger": (
                f"/registrations/{agency.registration_id}/ledger"
            ),
            "/registrations/{registration_id}/reports/dispensing-log": (
                f"{reports}/dispensing-log?format=json&schedules=I-II"
            ),
            "/registrations/{registration_id}/reports/ledger": (
                f"{reports}/ledger?format=json&schedules=I-II"
            ),
        }
        uncovered = sorted(get_routes(wiring) - set(client_reads) - WITHOUT_CLIENT_DATA)
        assert uncovered == [], f"walk the new GET routes: {uncovered}"
        made = await walk(
            http, {route: (url, agency.as_officer) for route, url in client_reads.items()}
        )
        assert made.failures() == {}, made.failures()
        walked = made.reads_of(["client-au"])
        assert set(walked.values()) == set(client_reads), walked
        found = await audited_request_ids(
            servers.kafka_bootstrap, f"{topic_prefix}audit.access.v1", walked
        )
        unaudited = sorted(route for rid, route in walked.items() if rid not in found)
        assert unaudited == [], f"reads of client data without an audit entry: {unaudited}"

    topic = f"{topic_prefix}audit.access.v1"

    async def all_audited() -> list[dict[str, Any]] | None:
        trail = await audit_trail(servers.kafka_bootstrap, topic)

        def has(**wanted: Any) -> bool:
            return any(
                all(
                    str(e.get(k)) == str(v) or (k == "reason" and v in str(e.get(k)))
                    for k, v in wanted.items()
                )
                for e in trail
            )

        needed = {
            "unlocked storage": has(
                resource="inventory/receipts", outcome="denied", reason="1301.75"
            ),
            "inexact quantity": has(
                resource="inventory/receipts", outcome="denied", reason="quantity_mg"
            ),
            "role": has(resource="inventory/wastes", outcome="denied", user_id=agency.witness2),
            "no approval": has(
                resource="inventory/dispenses", outcome="denied", reason="authorised-prescriber"
            ),
            "dispense": has(
                resource="inventory/dispense", outcome="success", client_id="client-au"
            ),
            "lot history": has(
                resource="inventory/lot-history", outcome="success", client_id="client-au"
            ),
            "ledger": has(resource="inventory/ledger", outcome="success", client_id="client-au"),
        }
        missing[:] = [name for name, found in needed.items() if not found]
        seen[:] = [(e.get("resource"), e.get("outcome"), e.get("reason")) for e in trail]
        return trail if not missing else None

    missing: list[str] = []
    seen: list[Any] = []
    try:
        await eventually(all_audited, within=60, message="refusals and reads audited")
    except AssertionError:
        raise AssertionError(f"not audited: {missing}; audited: {seen}") from None
