"""Part 2 attacks on real Kafka and FerretDB: an SUD diagnosis arriving by addendum, and a
consent's signed event replayed after its revocation."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import publish, wrap
from services.billing.tests.test_billing_part2_claims_kafka import (
    PART2_REASON,
    consent,
    set_up,
    therapy,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_an_sud_diagnosis_added_by_addendum_holds_the_charge_and_a_late_consent_event_does_not_release_it(  # noqa: E501
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id = f"cl-{unique}"
    encounter_id = f"enc-{unique}"
    biller = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    registered = ClientRegistered(
        client_id=client_id,
        home_site_id="site-1",
        given_name="Ana",
        family_name="Silva",
        date_of_birth=date(1980, 2, 3),
    )
    kafka = servers.kafka_bootstrap
    await publish(kafka, f"{topic_prefix}clinical.client.v1", wrap(registered, tenant))
    encounters = f"{topic_prefix}clinical.encounter.v1"
    consents = f"{topic_prefix}clinical.consent.v1"
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:
        acme, _ = await set_up(http, client_id)

        async def charges() -> list[dict[str, Any]]:
            return list((await http.get(f"/clients/{client_id}/charges")).json()["items"])

        async def one(status: str) -> dict[str, Any] | None:
            found = [c for c in await charges() if c["status"] == status]
            return found[0] if len(found) == 1 else None

        # Signed as PTSD only: an ordinary open charge.
        await publish(kafka, encounters, wrap(therapy(encounter_id, client_id), tenant))
        first = await eventually(lambda: one("open"), within=90, message="open charge")
        # The addendum replaces F43.10 by F11.20 (opioid use disorder): same pointers.
        addendum = therapy(
            encounter_id,
            client_id,
            diagnoses=["F11.20"],
            part2=True,
            revision=2,
            signed_at=datetime(2026, 11, 3, 9, 0, tzinfo=UTC),
        )
        await publish(kafka, encounters, wrap(addendum, tenant))
        held = await eventually(lambda: one("held"), within=90, message="held after addendum")
        assert held["id"] != first["id"]
        assert held["hold_reasons"] == [PART2_REASON]
        assert held["diagnoses"] == ["F11.20"]
        r = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert r.status_code == 201, r.text
        assert r.json()["claims"] == []

        # Consent given, then revoked; the signed event replayed afterwards changes nothing.
        given = consent(f"c1-{unique}", client_id, "active", "Acme Health")
        await publish(kafka, consents, wrap(given, tenant))
        await eventually(lambda: one("open"), within=90, message="released")
        revoked = consent(f"c1-{unique}", client_id, "revoked", "Acme Health")
        await publish(kafka, consents, wrap(revoked, tenant))
        await eventually(lambda: one("held"), within=90, message="re-held")
        await publish(kafka, consents, wrap(given, tenant))  # the signed event, replayed
        # Events of one client are ordered on their partition: the revocation took seconds
        # to apply, so a revived consent would release the charge well within this window.
        for _ in range(15):
            await asyncio.sleep(1)
            assert await one("held") is not None, "the replayed consent released the charge"
        r = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert r.status_code == 201, r.text
        assert r.json()["claims"] == []
