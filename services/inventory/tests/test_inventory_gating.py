"""Every dose re-checks its protocol's conditions (ADR 0403): a revoked consent, an
ineligible latest screening or a missing co-therapist refuses the dispense, naming each
failed condition; restoring the condition allows the dose again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from halcyon.shared.contracts.clinical import ConsentChanged, ScreeningCompleted
from halcyon.shared.mongo import Document
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.inventory.tests.inventory_testkit import Agency, appointment, clearance
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


def codes(response: httpx.Response) -> set[str]:
    return {c["code"] for c in response.json().get("failed_conditions", [])}


async def test_consent_screening_and_presence_gate_each_dose(
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
        dyad = [agency.witness2, "staff-co-therapist"]
        await agency.announce(
            [
                appointment("appt-1", agency.site, "client-1", dyad),
                # Checked in with one of the two therapists in the room.
                appointment(
                    "appt-2", agency.site, "client-2", dyad, present_staff_ids=[agency.witness2]
                ),
            ]
        )
        await agency.wait_for("appointments", 2)
        signed = datetime.now(UTC) - timedelta(days=2)

        async def tell(event: ConsentChanged | ScreeningCompleted, _: str) -> None:
            [event_id] = await agency.announce([event], cleared=False)
            await agency.wait_processed(event_id)

        # The consent revoked and a later screening ineligible: both named at once.
        await tell(
            ConsentChanged(
                consent_id="consent-client-1-mdma-ptsd",
                client_id="client-1",
                kind="psychedelic_informed",
                protocol_id="mdma-ptsd",
                status="revoked",
                effective_at=signed,
            ),
            "consents",
        )
        later = ScreeningCompleted(
            screening_id="screening-client-1-later",
            client_id="client-1",
            protocol_id="mdma-ptsd",
            eligible=False,
            reasons=["uncontrolled_hypertension"],
            signed_by=agency.prescriber,
            signed_at=signed + timedelta(days=1),
        )
        await tell(later, "screenings")
        before = await agency.balance()
        refused = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/dose-refused")
        assert codes(refused) == {"informed_consent", "eligible_screening"}, refused.text
        assert await agency.balance() == before

        # The original signing redelivered late (out of order): a revoked consent stays
        # revoked, so the stale "active" must not re-enable the dose.
        [stale] = [e for e in clearance("client-1") if isinstance(e, ConsentChanged)]
        await tell(stale, "consents")
        again = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert again.status_code == 422, again.text
        assert codes(again) == {"informed_consent", "eligible_screening"}, again.text

        # Restored: a new consent signed and a new eligible screening → the dose goes.
        await tell(
            ConsentChanged(
                consent_id="consent-client-1-again",
                client_id="client-1",
                kind="psychedelic_informed",
                protocol_id="mdma-ptsd",
                status="active",
                effective_at=datetime.now(UTC),
            ),
            "consents",
        )
        await tell(
            ScreeningCompleted(
                screening_id="screening-client-1-rescreen",
                client_id="client-1",
                protocol_id="mdma-ptsd",
                eligible=True,
                signed_by=agency.prescriber,
                signed_at=signed + timedelta(days=1, hours=1),
            ),
            "screenings",
        )
        allowed = await http.post(
            "/dispenses", json=agency.dose("appt-1", 120), headers=agency.as_nurse
        )
        assert allowed.status_code == 201, allowed.text

        # One therapist of the MDMA dyad in the room: refused, naming the floor.
        alone = await http.post(
            "/dispenses", json=agency.dose("appt-2", 120), headers=agency.as_nurse
        )
        assert alone.status_code == 422, alone.text
        assert codes(alone) == {"clinicians_present"}, alone.text
        assert "2 therapist(s)" in alone.text
