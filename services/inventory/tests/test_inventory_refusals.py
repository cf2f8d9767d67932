"""Every refusal the issue lists, on the real service: a problem response, and nothing
written — the ledger and the balance are exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.identity import DeaRegistration, SiteChanged
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import NEXT_YEAR, TODAY, Agency, appointment
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_each_refusal_answers_a_problem_and_writes_nothing(
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
        # Two days back: expiry is judged on the site's day (Denver), which is still UTC's
        # yesterday until 07:00 UTC, so a lot that expired "yesterday" in UTC may not have.
        expired_lot = await agency.new_lot(http, "MD-OLD", TODAY - timedelta(days=2))
        await agency.receive(http, expired_lot, 240)
        await agency.announce(
            [
                appointment(f"appt-{n}", agency.site, f"client-{n}", [agency.nurse])
                for n in range(1, 6)
            ]
        )
        await agency.wait_for("appointments", 5)
        db = agency.db()

        async def snapshot() -> tuple[int, float]:
            entries = await db["ledger"].count_documents({"tenant_id": agency.tenant})
            return entries, await agency.balance()

        before = await snapshot()

        async def refused(
            method: str,
            path: str,
            body: dict[str, Any] | None,
            headers: dict[str, str],
            status: int,
            says: str,
        ) -> None:
            response = await http.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert says in response.text, response.text
            assert await snapshot() == before, f"{path} wrote something while refusing"

        waste = {
            "lot_id": agency.lot_id,
            "location_id": agency.location_id,
            "quantity_mg": 40,
            "method": "rendered unrecoverable in a waste kit",
            "reason": "capsule dropped",
        }
        # Waste without two distinct witnesses, neither the person wasting (1317.95(d)).
        await refused(
            "POST",
            "/wastes",
            {**waste, "witness_ids": [agency.witness]},
            agency.as_nurse,
            422,
            "two distinct witnesses",
        )
        await refused(
            "POST",
            "/wastes",
            {**waste, "witness_ids": [agency.witness] * 2},
            agency.as_nurse,
            422,
            "two distinct witnesses",
        )
        await refused(
            "POST",
            "/wastes",
            {**waste, "witness_ids": [agency.nurse, agency.witness]},
            agency.as_nurse,
            422,
            "cannot witness",
        )
        await refused(
            "POST",
            "/wastes",
            {
                **waste,
                "witness_ids": [agency.witness, agency.witness2],
                "dispense_entry_id": "no-such-dispense",
            },
            agency.as_nurse,
            422,
            "is not a dispense",
        )
        # Schedule I receipt without a Form 222 / CSOS order number (1305.03).
        await refused(
            "POST",
            "/receipts",
            {
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": 400,
                "received_on": TODAY.isoformat(),
            },
            agency.as_officer,
            422,
            "Form 222",
        )
        # Expired lot.
        await refused(
            "POST",
            "/dispenses",
            {**agency.dose("appt-1"), "lot_id": expired_lot},
            agency.as_nurse,
            422,
            "expired",
        )
        # Dose outside the protocol: 100 mg initial; supplemental before any initial.
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-1", 100),
            agency.as_nurse,
            422,
            "outside protocol",
        )
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-1", 40, supplemental=True),
            agency.as_nurse,
            422,
            "follows an initial dose",
        )
        # Prescriber whose DEA registration expired (identity told us, via Kafka).
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-1", prescriber_id=agency.lapsed_prescriber),
            agency.as_nurse,
            422,
            "no active DEA registration",
        )
        # Only a nurse or prescriber administers; the order comes from a prescriber.
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-1", administered_by=agency.witness2),
            agency.as_nurse,
            422,
            "is not a nurse or prescriber",
        )
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-1", prescriber_id=agency.nurse),
            agency.as_nurse,
            422,
            "is not a prescriber",
        )
        # Only nurses and prescribers at the site dispense; only compliance officers adjust.
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-1"),
            agency.headers(agency.witness2, "therapist"),
            403,
            "roles",
        )
        await refused(
            "POST",
            "/adjustments",
            {
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "delta_mg": -40,
                "reason": "recount",
            },
            agency.as_nurse,
            403,
            "compliance officer",
        )
        # Schedule I only under a researcher registration tied to a protocol (1301.18).
        await refused(
            "POST",
            "/registrations",
            {
                "site_id": agency.site,
                "dea_number": "AP1234567",
                "registrant_name": "Dr P",
                "kind": "practitioner",
                "schedules": ["I", "II"],
                "expires_on": NEXT_YEAR.isoformat(),
            },
            agency.as_officer,
            422,
            "researcher registration",
        )
        # Another agency does not even see the registration; another site may not use it.
        stranger = agency.issuer.headers(
            tenant_id="agency-other", user_id="x", roles=[(agency.site, "compliance_officer")]
        )
        await refused(
            "GET",
            f"/registrations/{agency.registration_id}",
            None,
            stranger,
            404,
            "no registration",
        )
        elsewhere = agency.issuer.headers(
            tenant_id=agency.tenant, user_id=agency.nurse, roles=[("site-elsewhere", "nurse")]
        )
        await refused("POST", "/dispenses", agency.dose("appt-1"), elsewhere, 403, "roles")
        # Identity's certificates for a site bound what inventory may record there.
        aurora = "site-aurora"
        await agency.announce(
            [
                SiteChanged(
                    site_id=aurora,
                    name="Aurora",
                    timezone="America/Denver",
                    dea_registrations=[
                        DeaRegistration(
                            number="RA1234567", schedules=["II", "III"], expires_on=NEXT_YEAR
                        )
                    ],
                )
            ]
        )
        await agency.wait_for("sites", 2)
        at_aurora = agency.issuer.headers(
            tenant_id=agency.tenant, user_id=agency.officer, roles=[(aurora, "compliance_officer")]
        )
        aurora_registration = {
            "site_id": aurora,
            "dea_number": "RA1234567",
            "registrant_name": "Halcyon Aurora",
            "kind": "researcher",
            "schedules": ["I", "II"],
            "protocol_id": "mdma-ptsd",
            "expires_on": NEXT_YEAR.isoformat(),
        }
        await refused(
            "POST",
            "/registrations",
            aurora_registration,
            at_aurora,
            422,
            "does not cover Schedule I",
        )
        await refused(
            "POST",
            "/registrations",
            {**aurora_registration, "dea_number": "RX1234567"},
            at_aurora,
            422,
            "identity lists no DEA registration",
        )
        # Bad input: 422 with nothing written.
        await refused(
            "POST",
            "/dispenses",
            {**agency.dose("appt-1"), "quantity_mg": -80},
            agency.as_nurse,
            422,
            "quantity_mg",
        )

        # The supplemental dose: half the initial, 90-150 minutes after it.
        started = datetime.now(UTC) - timedelta(minutes=100)
        initial = await http.post(
            "/dispenses",
            json=agency.dose("appt-2", 120, administered_at=started.isoformat()),
            headers=agency.as_nurse,
        )
        assert initial.status_code == 201, initial.text
        before = await snapshot()
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-2", 40, supplemental=True),
            agency.as_nurse,
            422,
            "half the initial dose",
        )
        await refused(
            "POST",
            "/dispenses",
            agency.dose("appt-2", 120),
            agency.as_nurse,
            409,
            "already had its initial dose",
        )
        supplemental = await http.post(
            "/dispenses", json=agency.dose("appt-2", 60, supplemental=True), headers=agency.as_nurse
        )
        assert supplemental.status_code == 201, supplemental.text
        assert await agency.balance() == 800 - 180

        # Scheduling cancels appointment 3 (a newer version): dispensing for it stops.
        await agency.announce(
            [
                appointment(
                    "appt-3",
                    agency.site,
                    "client-3",
                    [agency.nurse],
                    status="cancelled",
                    change="cancelled",
                    version=2,
                )
            ]
        )

        async def cancelled() -> bool:
            doc = await db["appointments"].find_one({"_id": "appt-3"})
            return bool(doc and doc["status"] == "cancelled")

        await eventually(cancelled, message="the cancellation reached inventory")
        # An older version arriving late does not resurrect it.
        [stale] = await agency.announce(
            [appointment("appt-3", agency.site, "client-3", [agency.nurse], version=1)]
        )
        await agency.wait_processed(stale)
        before = await snapshot()
        await refused(
            "POST", "/dispenses", agency.dose("appt-3"), agency.as_nurse, 422, "cancelled"
        )

        # With two distinct witnesses other than the nurse, waste is recorded.
        wasted = await http.post(
            "/wastes",
            json={**waste, "witness_ids": [agency.witness, agency.witness2]},
            headers=agency.as_nurse,
        )
        assert wasted.status_code == 201, wasted.text
        assert await agency.balance() == 800 - 180 - 40
