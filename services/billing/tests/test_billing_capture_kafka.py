"""Charge capture on the real broker: a signed encounter is charged exactly once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.clinical import EncounterClinician
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import (
    client_registered,
    dosing_signed,
    publish,
    read_envelopes,
    wrap,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_signed_encounter_is_charged_exactly_once_and_an_addendum_corrects(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id, encounter_id = f"cl-{unique}", f"enc-{unique}"
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}clinical.client.v1",
        wrap(client_registered(client_id), tenant),
    )
    async with httpx.AsyncClient(base_url=billing.url, headers=headers, timeout=60) as http:
        # The client has no coverage: self-pay, priced from the site's self-pay fees.
        # 0822T has no fee yet, so its charge waits (held) until repriced.
        r = await http.post(
            "/fee-schedules",
            json={
                "site_id": "site-1",
                "payer": "self-pay",
                "cpt": "0820T",
                "rate_cents": 10000,
                "starts_on": "2026-01-01",
            },
        )
        assert r.status_code == 201, r.text
    signed = wrap(dosing_signed(encounter_id, client_id), tenant)
    # The same event twice (a relay retry), and the same facts under a new event id
    # (a producer that re-sent after a crash): the charges must exist once.
    same_facts_new_id = wrap(dosing_signed(encounter_id, client_id), tenant)
    topic = f"{topic_prefix}clinical.encounter.v1"
    await publish(servers.kafka_bootstrap, topic, signed, signed, same_facts_new_id)

    async with httpx.AsyncClient(base_url=billing.url, headers=headers, timeout=60) as http:

        async def charges() -> list[dict[str, Any]]:
            response = await http.get(f"/clients/{client_id}/charges")
            if response.status_code != 200:
                return []
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        async def captured() -> list[dict[str, Any]] | None:
            found = await charges()
            return found if len(found) >= 2 else None

        found = await eventually(captured, within=90, message="charges captured")
        # All three deliveries have been consumed once a later marker event is applied.
        marker = wrap(client_registered(f"marker-{unique}"), tenant)
        await publish(servers.kafka_bootstrap, f"{topic_prefix}clinical.client.v1", marker)
        await publish(
            servers.kafka_bootstrap,
            topic,
            wrap(dosing_signed(f"enc-marker-{unique}", f"marker-{unique}"), tenant),
        )

        async def marker_done() -> bool:
            response = await http.get(f"/clients/marker-{unique}/charges")
            return response.status_code == 200 and len(response.json()["items"]) == 2

        await eventually(marker_done, within=90, message="a later encounter captured")
        found = await charges()
        assert sorted((c["cpt"], c["units"]) for c in found) == [("0820T", 8), ("0822T", 8)]
        assert {c["_id"] if "_id" in c else c["id"] for c in found} == {
            f"chg:{encounter_id}:r1:monitoring-first",
            f"chg:{encounter_id}:r1:monitoring-staff-rn-1",
        }

        # An addendum: the nurse documented 2 hours, not 8. One correction, no duplicate.
        revised = dosing_signed(
            encounter_id,
            client_id,
            revision=2,
            clinicians=[
                EncounterClinician(
                    staff_id="md-1", role="prescriber", npi="1003000126", monitoring_role="first"
                ),
                EncounterClinician(
                    staff_id="rn-1", role="nurse", monitoring_role="staff", minutes=120
                ),
            ],
        )
        await publish(servers.kafka_bootstrap, topic, wrap(revised, tenant), wrap(revised, tenant))

        async def corrected() -> list[dict[str, Any]] | None:
            found = await charges()
            return found if len(found) >= 4 else None

        found = await eventually(corrected, within=90, message="addendum corrected")
        by_id = {c["id"]: c for c in found}
        staff_r1 = f"chg:{encounter_id}:r1:monitoring-staff-rn-1"
        assert by_id[staff_r1]["status"] == "reversed"
        reversal = by_id[f"{staff_r1}:void-r2"]
        assert reversal["units"] == -8
        assert reversal["corrects_charge_id"] == staff_r1
        assert by_id[f"chg:{encounter_id}:r2:monitoring-staff-rn-1"]["units"] == 2
        assert by_id[f"chg:{encounter_id}:r1:monitoring-first"]["status"] != "reversed"
        assert len(found) == 4
        assert by_id[f"chg:{encounter_id}:r2:monitoring-staff-rn-1"]["status"] == "held"

        # Downstream sees each charge announced once: 2 charges, 1 reversal, 1 new charge
        # for this encounter (plus the marker encounter's 2).
        events = await read_envelopes(
            servers.kafka_bootstrap, f"{topic_prefix}billing.charge.v1", 6
        )
        created = [
            e.data["charge_id"]
            for e in events
            if e.type == "halcyon.billing.charge.created.v1"
            and e.data["encounter_id"] == encounter_id
        ]
        assert sorted(created) == sorted(by_id)

        async def balance() -> int:
            return int((await http.get(f"/clients/{client_id}/ledger")).json()["balance_cents"])

        assert await balance() == 8 * 10000  # 0820T x8; the held 0822T owes nothing yet
        r = await http.post(
            "/fee-schedules",
            json={
                "site_id": "site-1",
                "payer": "self-pay",
                "cpt": "0822T",
                "rate_cents": 5000,
                "starts_on": "2026-01-01",
            },
        )
        assert r.status_code == 201
        r = await http.post("/charges/reprice", json={"site_id": "site-1"})
        assert r.json() == {"held": 2, "priced": 2}  # this one and the marker encounter's
        assert await balance() == 8 * 10000 + 2 * 5000
        r = await http.post("/charges/reprice", json={"site_id": "site-1"})
        assert r.json() == {"held": 0, "priced": 0}
        assert await balance() == 90000
