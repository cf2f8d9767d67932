"""AR aging and denials on a real billing process (real Kafka and FerretDB): encounters
become claims, one is denied by an 835, and the dashboards equal a hand computation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.clinical import EncounterClinician
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import client_registered, dosing_signed, publish, wrap
from services.billing.tests.test_billing_claims_flow import ADDRESS, era, subscriber
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_ar_aging_and_denials_equal_a_hand_computation(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id = f"cl-{unique}"
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
        r = await http.put(
            "/sites/site-1/billing-profile",
            json={
                "provider_name": "Halcyon Clinic",
                "npi": "1234567893",
                "tax_id": "123456789",
                "address": ADDRESS,
                "submitter_id": "HALCYONSUB",
                "receiver_id": "RECV01",
            },
        )
        assert r.status_code == 200, r.text
        acme = (
            await http.post(
                "/payers",
                json={"name": "Acme Health", "payer_id": "60054", "claim_filing_indicator": "CI"},
            )
        ).json()["id"]
        r = await http.post(
            f"/clients/{client_id}/coverages",
            json={
                "starts_on": "2026-01-01",
                "member_id": "M123",
                "relationship": "self",
                "subscriber": subscriber(),
                "payer": acme,
                "rank": "primary",
            },
        )
        assert r.status_code == 201, r.text
        for cpt, modifiers, rate in [
            ("0820T", [], 20000),
            ("0822T", [], 8000),
            ("90837", ["95"], 18000),
        ]:
            r = await http.post(
                "/fee-schedules",
                json={
                    "site_id": "site-1",
                    "payer": acme,
                    "cpt": cpt,
                    "modifiers": modifiers,
                    "rate_cents": rate,
                    "starts_on": "2026-01-01",
                },
            )
            assert r.status_code == 201, r.text

        topic = f"{topic_prefix}clinical.encounter.v1"
        # Dosing on 2026-11-02 (8 x $200 + 8 x $80 = $2,240.00) and a telehealth
        # psychotherapy session on 2026-09-20 ($180.00).
        tele = dosing_signed(
            f"e2-{unique}",
            client_id,
            kind="psychotherapy",
            service_date=date(2026, 9, 20),
            started_at=datetime(2026, 9, 20, 15, 0, tzinfo=UTC),
            ended_at=datetime(2026, 9, 20, 16, 0, tzinfo=UTC),
            signed_at=datetime(2026, 9, 20, 16, 30, tzinfo=UTC),
            psychotherapy_minutes=55,
            monitoring_minutes=None,
            telehealth=True,
            place_of_service="10",
            clinicians=[EncounterClinician(staff_id="md-1", role="therapist", npi="1003000126")],
        )
        await publish(
            servers.kafka_bootstrap,
            topic,
            wrap(dosing_signed(f"e1-{unique}", client_id), tenant),
            wrap(tele, tenant),
        )

        async def charges() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = (await http.get(f"/clients/{client_id}/charges")).json()[
                "items"
            ]
            return items if len(items) >= 3 else None

        await eventually(charges, within=90, message="charges")
        batch = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert batch.status_code == 201, batch.text
        made = batch.json()
        assert sorted(c["total_cents"] for c in made["claims"]) == [18000, 224000]
        r = await http.post(f"/claim-files/{made['file']['id']}/submitted")
        assert r.json()["submitted"] == 2
        tele_ref = next(c for c in made["claims"] if c["total_cents"] == 18000)
        tele_claim = (await http.get(f"/claims/{tele_ref['id']}")).json()
        denial = era(tele_claim, paid=0, patient=0, trace=f"D{unique}", status="4")
        r = await http.post("/remittances", content=denial)
        assert r.status_code == 201, r.text

        # By hand, as of 2026-12-15: dosing served 2026-11-02 is 43 days old (31-60),
        # $2,240.00 unpaid; the denied session of 2026-09-20 is 86 days old (61-90),
        # $180.00 still owed until written off or paid on appeal.
        r = await http.get("/reports/ar-aging", params={"site_id": "site-1", "as_of": "2026-12-15"})
        assert r.status_code == 200, r.text
        aging = r.json()
        assert aging["buckets"] == [
            {"bucket": "0-30", "claims": 0, "outstanding_cents": 0},
            {"bucket": "31-60", "claims": 1, "outstanding_cents": 224000},
            {"bucket": "61-90", "claims": 1, "outstanding_cents": 18000},
            {"bucket": "90+", "claims": 0, "outstanding_cents": 0},
        ]
        assert aging["total_cents"] == 242000
        csv = await http.get(
            "/reports/ar-aging",
            params={"site_id": "site-1", "as_of": "2026-12-15", "format": "csv"},
        )
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[1].endswith(",86,61-90,18000")

        today = datetime.now(UTC).date()
        period = {
            "site_id": "site-1",
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
        }
        r = await http.get("/reports/denials", params=period)
        assert r.status_code == 200, r.text
        denials = r.json()
        # The whole $180.00 line was adjusted CO-45 on the denied claim.
        assert denials["denied_claims"] == 1
        assert denials["total_denied_cents"] == 18000
        assert denials["reasons"] == [
            {"code": "CO-45", "group": "CO", "carc": "45", "denials": 1, "amount_cents": 18000}
        ]

        nurse = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "nurse")])
        r = await http.get("/reports/denials", params=period, headers=nurse)
        assert r.status_code == 403
        officer = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "compliance_officer")])
        r = await http.get("/reports/denials", params=period, headers=officer)
        assert r.status_code == 200
        r = await http.get(
            "/reports/denials",
            params={**period, "from": period["to"], "to": period["from"]},
        )
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")

        # Billable units per clinician, by hand: Grace Hopper (md-1) monitored the dosing
        # day as first clinician, 480 min = 8 units of 0820T ($1,600.00), and saw the
        # client by video on 2026-09-20, 1 unit of 90837 ($180.00, denied but still
        # billed work); the nurse rn-1 (no staff record: shown by id) 8 units of 0822T
        # ($640.00).
        autumn = {"site_id": "site-1", "from": "2026-09-01", "to": "2026-11-30"}
        r = await http.get("/reports/billable-units", params=autumn)
        assert r.status_code == 200, r.text
        units = r.json()
        assert [
            (u["clinician"], u["cpt"], u["units"], u["amount_cents"]) for u in units["rows"]
        ] == [
            ("Grace Hopper", "0820T", 8, 160000),
            ("Grace Hopper", "90837", 1, 18000),
            ("rn-1", "0822T", 8, 64000),
        ]
        assert [(c["clinician"], c["units"], c["amount_cents"]) for c in units["clinicians"]] == [
            ("Grace Hopper", 9, 178000),
            ("rn-1", 8, 64000),
        ]
        assert (units["total_units"], units["total_held_units"], units["total_cents"]) == (
            17,
            0,
            242000,
        )
        november = await http.get(
            "/reports/billable-units",
            params={**autumn, "from": "2026-10-01", "format": "csv"},
        )
        assert november.headers["content-type"].startswith("text/csv")
        lines = november.text.splitlines()
        assert lines[0] == "staff_id,clinician,cpt,units,held_units,charges,amount_cents"
        assert lines[1:] == ["md-1,Grace Hopper,0820T,8,0,1,160000", "rn-1,rn-1,0822T,8,0,1,64000"]
        r = await http.get("/reports/billable-units", params=autumn, headers=nurse)
        assert r.status_code == 403
