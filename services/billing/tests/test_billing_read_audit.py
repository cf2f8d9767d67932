"""Issue 18, item 10: every billing GET route (enumerated from the app's wiring) that
returns a client's data leaves an access audit entry naming the client — lists, claim
files, remittances and reports included, not only the routes with the client in the path.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from halcyon.billing.app import wiring
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.testing.audit_walk import audited_request_ids, get_routes, walk
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import (
    client_registered,
    dosing_signed,
    publish,
    wrap,
)
from services.billing.tests.test_billing_claims_flow import ADDRESS, era, subscriber
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
# Configuration and totals: no client is named in what these return.
WITHOUT_CLIENT_DATA = {
    "/drug-codes", "/payers", "/fee-schedules", "/reports/denials", "/reports/billable-units",
}  # fmt: skip


async def test_every_read_of_client_data_is_audited(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id = f"cl-walk-{unique}"
    biller = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}clinical.client.v1",
        wrap(client_registered(client_id), tenant),
    )
    staff = StaffMemberChanged(
        staff_id="md-1", display_name="Grace Hopper", roles=[], npi="1003000126"
    )
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}identity.staff.v1",
        EventEnvelope.wrap(staff, source="/halcyon/identity", tenant_id=tenant),
    )
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:

        async def client_known() -> bool:
            return (await http.get(f"/clients/{client_id}/charges")).status_code == 200

        await eventually(client_known, within=90, message="client read model")
        profile = {
            "provider_name": "Halcyon Clinic", "npi": "1234567893", "tax_id": "123456789",
            "address": ADDRESS, "submitter_id": "HALCYONSUB", "receiver_id": "RECV01",
        }  # fmt: skip
        assert (await http.put("/sites/site-1/billing-profile", json=profile)).status_code == 200
        payer = await http.post(
            "/payers",
            json={"name": "Acme Health", "payer_id": "60054", "claim_filing_indicator": "CI"},
        )
        acme = payer.json()["id"]
        coverage = await http.post(
            f"/clients/{client_id}/coverages",
            json={
                "payer": acme, "rank": "primary", "starts_on": "2026-01-01",
                "member_id": "M123", "relationship": "self", "subscriber": subscriber(),
            },
        )  # fmt: skip
        assert coverage.status_code == 201, coverage.text
        for cpt, rate in (("0820T", 20000), ("0822T", 8000)):
            fee = await http.post(
                "/fee-schedules",
                json={
                    "site_id": "site-1", "payer": acme, "cpt": cpt, "modifiers": [],
                    "rate_cents": rate, "starts_on": "2026-01-01",
                },
            )  # fmt: skip
            assert fee.status_code == 201, fee.text
        authorization = await http.post(
            f"/clients/{client_id}/authorizations",
            json={
                "coverage_id": coverage.json()["id"], "cpt": "0820T", "units_authorized": 10,
                "starts_on": "2026-10-01", "ends_on": "2026-12-31",
            },
        )  # fmt: skip
        assert authorization.status_code == 201, authorization.text
        await publish(
            servers.kafka_bootstrap,
            f"{topic_prefix}clinical.encounter.v1",
            wrap(dosing_signed(f"e-walk-{unique}", client_id), tenant),
        )

        async def charged() -> bool:
            items = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
            return len(items) >= 2

        await eventually(charged, within=90, message="dosing charges")
        batch = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert batch.status_code == 201, batch.text
        [claim_ref] = batch.json()["claims"]
        file_id = batch.json()["file"]["id"]
        claim: dict[str, Any] = (await http.get(f"/claims/{claim_ref['id']}")).json()
        # Denied: a payment record, a work-queue item and an open balance name the client.
        denial = await http.post(
            "/remittances", content=era(claim, paid=0, patient=0, trace=f"W{unique}", status="4")
        )
        assert denial.status_code == 201, denial.text
        remittance_id = denial.json()["id"]

        calls = {
            "/claim-files/{file_id}": f"/claim-files/{file_id}",
            "/claims": "/claims?site_id=site-1",
            "/claims/{claim_id}": f"/claims/{claim_ref['id']}",
            "/clients/{client_id}/authorizations": f"/clients/{client_id}/authorizations",
            "/clients/{client_id}/charges": f"/clients/{client_id}/charges",
            "/clients/{client_id}/coverages": f"/clients/{client_id}/coverages",
            "/clients/{client_id}/dispenses": f"/clients/{client_id}/dispenses",
            "/clients/{client_id}/ledger": f"/clients/{client_id}/ledger",
            "/clients/{client_id}/statement.pdf": f"/clients/{client_id}/statement.pdf",
            "/payments": "/payments",
            "/remittances/{remittance_id}": f"/remittances/{remittance_id}",
            "/reports/ar-aging": f"/reports/ar-aging?site_id=site-1&as_of={date.today()}",
            "/work-queue": "/work-queue",
        }
        uncovered = sorted(get_routes(wiring) - set(calls) - WITHOUT_CLIENT_DATA)
        assert uncovered == [], f"walk the new GET routes: {uncovered}"
        made = await walk(http, {route: (url, biller) for route, url in calls.items()})
    assert made.failures() == {}, made.failures()
    # Every walked route reads this client's data: each call needs an entry naming them.
    reads = made.reads()
    assert set(reads.values()) == set(calls), sorted(set(calls) - set(reads.values()))
    found = await audited_request_ids(
        servers.kafka_bootstrap, topic_prefix + "audit.access.v1", reads
    )
    missing = sorted(route for rid, route in reads.items() if rid not in found)
    assert missing == [], (
        f"reads of client data without an audit entry naming the client: {missing}"
    )
