"""From signed encounter to 837P, 835, secondary claim and statement, on real Kafka and FerretDB."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.clinical import ClientDetailsChanged, EncounterClinician
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.envelope import EventEnvelope
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
from services.billing.tests.x12_validation import x12valid
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
ADDRESS = {"line1": "1 MAIN ST", "city": "PORTLAND", "state": "OR", "postal_code": "972011234"}


def subscriber() -> dict[str, Any]:
    return {
        "given_name": "Ada",
        "family_name": "Byron",
        "date_of_birth": "1990-01-02",
        "sex": "F",
        "address": ADDRESS,
    }


def era(claim: dict[str, Any], paid: int, patient: int, trace: str, status: str = "1") -> bytes:
    """A small 835 for one of our claims: contractual CO-45, deductible PR-1, a PLB."""
    total = claim["total_cents"]
    contractual = total - paid - patient

    def d(cents: int) -> str:
        return f"{cents / 100:.2f}"

    segs = [
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*HALCYON        "
        "*261130*1200*^*00501*000000101*0*P*:",
        "GS*HP*PAYER*HALCYON*20261130*1200*101*X*005010X221A1",
        "ST*835*0001",
        f"BPR*I*{d(paid - 500)}*C*ACH*CCP*01*999999999*DA*123456*1512345678"
        "**01*999988880*DA*98765*20261130",
        f"TRN*1*{trace}*1512345678",
        "DTM*405*20261130",
        "N1*PR*ACME HEALTH",
        "N3*1 PAYER WAY",
        "N4*SALEM*OR*97301",
        "PER*BL*EDI*TE*8005551212",
        "N1*PE*HALCYON CLINIC*XX*1234567893",
        "LX*1",
        f"CLP*{claim['claim_number']}*{status}*{d(total)}*{d(paid)}*{d(patient)}*12*ICN{trace}",
        "NM1*QC*1*BYRON*ADA****MI*M123",
    ]
    share = claim["lines"]
    for i, line in enumerate(share):
        line_paid = paid if i == 0 else 0
        line_pr = patient if i == 0 else 0
        line_co = line["amount_cents"] - line_paid - line_pr
        segs += [
            f"SVC*HC:{line['cpt']}*{d(line['amount_cents'])}*{d(line_paid)}",
            "DTM*472*20261102",
        ]
        if line_co:
            segs.append(f"CAS*CO*45*{d(line_co)}")
        if line_pr:
            segs.append(f"CAS*PR*1*{d(line_pr)}")
    assert contractual >= 0
    segs.append("PLB*1234567893*20261231*WO:OVERPAY1*5.00")
    count = len(segs) - 2 + 1
    segs += [f"SE*{count}*0001", "GE*1*101", "IEA*1*000000101"]
    return ("~".join(segs) + "~").encode()


async def test_encounter_to_claims_remittance_secondary_and_statement(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    tmp_path: Any,
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
            r = await http.get(f"/clients/{client_id}/charges")
            return r.status_code == 200

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
        bad = await http.put(
            "/sites/site-1/billing-profile",
            json={"provider_name": "X", "npi": "12", "tax_id": "1", "address": ADDRESS},
        )
        assert bad.status_code == 422
        acme = (
            await http.post(
                "/payers",
                json={"name": "Acme Health", "payer_id": "60054", "claim_filing_indicator": "CI"},
            )
        ).json()["id"]
        other = (
            await http.post(
                "/payers",
                json={"name": "Other Health", "payer_id": "99999", "claim_filing_indicator": "CI"},
            )
        ).json()["id"]
        coverage = {
            "starts_on": "2026-01-01",
            "member_id": "M123",
            "relationship": "self",
            "subscriber": subscriber(),
        }
        # Invalid input is refused before anything is written.
        refused = [
            {**coverage, "payer": acme, "rank": "primary", "ends_on": "2025-01-01"},
            {**coverage, "payer": "no-such-payer", "rank": "primary"},
            {**coverage, "payer": acme, "rank": "quaternary"},
            {**coverage, "payer": acme, "rank": "primary", "member_id": "M*1~"},
        ]
        for body in refused:
            r = await http.post(f"/clients/{client_id}/coverages", json=body)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        nurse = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "nurse")])
        r = await http.post(
            f"/clients/{client_id}/coverages",
            json={**coverage, "payer": acme, "rank": "primary"},
            headers=nurse,
        )
        assert r.status_code == 403
        assert (await http.get(f"/clients/{client_id}/coverages")).json()["items"] == []
        r = await http.post(
            f"/clients/{client_id}/coverages", json={**coverage, "payer": acme, "rank": "primary"}
        )
        assert r.status_code == 201, r.text
        primary_coverage = r.json()["id"]
        r = await http.post(
            f"/clients/{client_id}/coverages",
            json={**coverage, "payer": other, "rank": "secondary", "member_id": "S987"},
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            f"/clients/{client_id}/eligibility-requests",
            json={"coverage_id": primary_coverage, "on": "2026-11-02"},
        )
        assert r.status_code == 201, r.text
        assert r.text.startswith("ISA*")
        assert "EQ*30~" in r.text
        assert "NM1*IL*1*BYRON*ADA" in r.text
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
        r = await http.post(
            f"/clients/{client_id}/authorizations",
            json={
                "coverage_id": primary_coverage,
                "cpt": "0820T",
                "units_authorized": 10,
                "starts_on": "2026-10-01",
                "ends_on": "2026-12-31",
            },
        )
        assert r.status_code == 201, r.text

        topic = f"{topic_prefix}clinical.encounter.v1"
        await publish(
            servers.kafka_bootstrap, topic, wrap(dosing_signed(f"e1-{unique}", client_id), tenant)
        )

        async def charges(n: int) -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = (await http.get(f"/clients/{client_id}/charges")).json()[
                "items"
            ]
            return items if len(items) >= n else None

        found = await eventually(lambda: charges(2), within=90, message="dosing charges")
        assert sorted((c["cpt"], c["units"], c["amount_cents"]) for c in found) == [
            ("0820T", 8, 160000),
            ("0822T", 8, 64000),
        ]
        auths = (await http.get(f"/clients/{client_id}/authorizations")).json()["items"]
        assert auths[0]["units_used"] == 8

        batch = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert batch.status_code == 201, batch.text
        first = batch.json()
        [claim_ref] = first["claims"]
        assert claim_ref["total_cents"] == 224000 == first["file"]["total_cents"]
        text = (await http.get(f"/claim-files/{first['file']['id']}")).text
        ok, output = x12valid(text, tmp_path, "first.837")
        assert ok, output
        assert "NM1*82*1*HOPPER*GRACE****XX*1003000126" in text
        assert "CLM*" + claim_ref["claim_number"] + "*2240***11:B:1" in text

        again = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert again.json()["claims"] == []  # every charge is on exactly one claim

        # A telehealth psychotherapy session: a second file, a new control number.
        tele = dosing_signed(
            f"e2-{unique}",
            client_id,
            kind="psychotherapy",
            psychotherapy_minutes=55,
            monitoring_minutes=None,
            telehealth=True,
            place_of_service="10",
            clinicians=[EncounterClinician(staff_id="md-1", role="therapist", npi="1003000126")],
        )
        await publish(servers.kafka_bootstrap, topic, wrap(tele, tenant))
        await eventually(lambda: charges(3), within=90, message="telehealth charge")
        second = (
            await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        ).json()
        assert second["file"]["control_number"] != first["file"]["control_number"]
        text2 = (await http.get(f"/claim-files/{second['file']['id']}")).text
        ok, output = x12valid(text2, tmp_path, "second.837")
        assert ok, output
        assert "SV1*HC:90837:95*180*UN*1" in text2
        assert "11:B:1" not in text2

        for batch_file in (first["file"]["id"], second["file"]["id"]):
            r = await http.post(f"/claim-files/{batch_file}/submitted")
            assert r.json()["submitted"] == 1

        # The clearinghouse rejects the telehealth claim: its charge is batched again,
        # on a new claim in a new file with a new control number.
        rejected = second["claims"][0]["id"]
        r = await http.post(f"/claims/{rejected}/status", json={"status": "rejected"})
        assert r.status_code == 200
        assert r.json()["status"] == "rejected"
        second = (
            await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        ).json()
        assert second["claims"][0]["id"] != rejected
        assert second["file"]["control_number"] not in (
            first["file"]["control_number"],
            first["file"]["control_number"] + 1,
        )
        r = await http.post(f"/claim-files/{second['file']['id']}/submitted")
        assert r.json()["submitted"] == 1

        claim = (await http.get(f"/claims/{claim_ref['id']}")).json()
        assert claim["status"] == "submitted"

        # The payer pays $1500 and leaves $200 deductible to the client; $5 PLB taken back.
        remittance = era(claim, paid=150000, patient=20000, trace=f"T{unique}")
        r = await http.post("/remittances", content=remittance)
        assert r.status_code == 201, r.text
        summary = r.json()
        assert summary["matched"] == 1
        assert summary["provider_adjustment_cents"] == 500
        assert summary["warnings"] == []
        claim = (await http.get(f"/claims/{claim_ref['id']}")).json()
        assert claim["status"] == "paid"
        assert claim["paid_cents"] == 150000
        assert claim["patient_responsibility_cents"] == 20000
        ledger = (await http.get(f"/clients/{client_id}/ledger")).json()
        assert ledger["balance_cents"] == 20000

        payments_before = (await http.get("/payments?limit=200")).json()["items"]
        r = await http.post("/remittances", content=remittance)
        assert r.status_code == 201
        assert r.json()["already_ingested"] is True
        assert (await http.get("/payments?limit=200")).json()["items"] == payments_before
        assert (await http.get(f"/clients/{client_id}/ledger")).json()["balance_cents"] == 20000
        assert (await http.get(f"/claims/{claim_ref['id']}")).json()["paid_cents"] == 150000

        # Secondary claim with the primary's adjudication (2320/2330, 2430 SVD).
        r = await http.post(f"/claims/{claim_ref['id']}/secondary")
        assert r.status_code == 201, r.text
        secondary_file = r.json()["file"]["id"]
        secondary_claim_id = r.json()["claims"][0]["id"]
        text3 = (await http.get(f"/claim-files/{secondary_file}")).text
        ok, output = x12valid(text3, tmp_path, "secondary.837")
        assert ok, output
        assert "AMT*D*1500~" in text3
        assert "SVD*60054*1500*HC:0820T**8~" in text3
        assert "SBR*S*18" in text3
        assert "NM1*PR*2*OTHER HEALTH*****PI*99999" in text3
        again = await http.post(f"/claims/{claim_ref['id']}/secondary")
        assert again.status_code == 422

        # The telehealth claim is denied: work queue with the CARC codes.
        tele_claim = (await http.get(f"/claims/{second['claims'][0]['id']}")).json()
        denial = era(tele_claim, paid=0, patient=0, trace=f"D{unique}", status="4")
        r = await http.post("/remittances", content=denial)
        assert r.status_code == 201, r.text
        assert (await http.get(f"/claims/{tele_claim['id']}")).json()["status"] == "denied"
        work = (await http.get("/work-queue?kind=denial")).json()["items"]
        assert [(w["claim_id"], w["codes"]) for w in work] == [(tele_claim["id"], ["CO-45"])]
        r = await http.post(
            f"/work-queue/{work[0]['id']}/resolve", json={"resolution": "appeal filed"}
        )
        assert r.status_code == 200
        assert r.json()["status"] == "resolved"
        assert (await http.get("/work-queue?kind=denial")).json()["items"] == []
        r = await http.post(f"/work-queue/{work[0]['id']}/resolve", json={"resolution": "again"})
        assert r.status_code == 409
        r = await http.post(f"/claims/{tele_claim['id']}/status", json={"status": "appealed"})
        assert r.status_code == 200
        assert r.json()["status"] == "appealed"
        r = await http.post(f"/claims/{tele_claim['id']}/status", json={"status": "accepted"})
        assert r.status_code == 409

        # The client pays half; the statement is a PDF.
        r = await http.post(
            f"/clients/{client_id}/payments", json={"amount_cents": 10000, "method": "card"}
        )
        assert r.status_code == 201
        assert r.json()["balance_cents"] == 10000
        pdf = await http.get(f"/clients/{client_id}/statement.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert b"$100.00" in pdf.content

        # An addendum after billing: the prescriber monitored 4 hours, not 8. The claimed
        # 0820T is reversed and flagged for a corrected claim; the authorization gets its
        # 8 units back and 4 are used by the new charge. The nurse's 0822T is concurrent
        # time, so it is bounded by the prescriber's 4 hours too: reversed, 4 units now.
        addendum = dosing_signed(f"e1-{unique}", client_id, revision=2, clinicians=[
            EncounterClinician(
                staff_id="md-1", role="prescriber", npi="1003000126",
                monitoring_role="first", minutes=240,
            ),
            EncounterClinician(staff_id="rn-1", role="nurse", monitoring_role="staff"),
        ])  # fmt: skip
        await publish(servers.kafka_bootstrap, topic, wrap(addendum, tenant))

        async def units_used() -> int | None:
            items = (await http.get(f"/clients/{client_id}/authorizations")).json()["items"]
            used = int(items[0]["units_used"])
            return used if used == 4 else None

        await eventually(units_used, within=90, message="authorization units corrected")
        by_id = {
            c["id"]: c for c in (await http.get(f"/clients/{client_id}/charges")).json()["items"]
        }
        old = by_id[f"chg:e1-{unique}:r1:monitoring-first"]
        assert old["status"] == "reversed"
        assert old["needs_corrected_claim"] is True
        assert by_id[f"chg:e1-{unique}:r2:monitoring-first"]["units"] == 4
        assert by_id[f"chg:e1-{unique}:r1:monitoring-staff-rn-1"]["status"] == "reversed"
        assert by_id[f"chg:e1-{unique}:r2:monitoring-staff-rn-1"]["units"] == 4
        auth_events = await read_envelopes(
            servers.kafka_bootstrap, f"{topic_prefix}billing.authorization.v1", 4
        )
        assert [e.data["units_used"] for e in auth_events] == [0, 8, 0, 4]

        # The corrected claim replaces the original: frequency 7 with the payer's number.
        r = await http.post(f"/claims/{claim_ref['id']}/replacement")
        assert r.status_code == 201, r.text
        corrected = r.json()
        assert corrected["claims"][0]["total_cents"] == 4 * 20000 + 4 * 8000
        text4 = (await http.get(f"/claim-files/{corrected['file']['id']}")).text
        ok, output = x12valid(text4, tmp_path, "replacement.837")
        assert ok, output
        assert "*11:B:7*" in text4
        assert f"REF*F8*ICNT{unique}~" in text4
        assert "SV1*HC:0820T*800*UN*4" in text4
        assert "SV1*HC:0822T*320*UN*4" in text4
        again = await http.post(f"/claims/{claim_ref['id']}/replacement")
        assert again.status_code == 422

        # The secondary pays $150 of the $200 the primary left; the client now owes $50,
        # and having paid $100 already has a $50 credit.
        secondary_claim = (await http.get(f"/claims/{secondary_claim_id}")).json()
        r = await http.post(
            "/remittances",
            content=era(secondary_claim, paid=15000, patient=5000, trace=f"S{unique}"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["matched"] == 1, r.text
        assert (await http.get(f"/clients/{client_id}/ledger")).json()["balance_cents"] == -5000

        # Clinical corrects the client's name: the next statement shows it.
        details = ClientDetailsChanged(
            client_id=client_id,
            home_site_id="site-1",
            given_name="Ada",
            family_name="Lovelace",
            date_of_birth=date(1990, 1, 2),
            changed_at=datetime.now(UTC),
        )
        await publish(
            servers.kafka_bootstrap, f"{topic_prefix}clinical.client.v1", wrap(details, tenant)
        )

        async def renamed() -> bool:
            pdf = await http.get(f"/clients/{client_id}/statement.pdf")
            return b"Ada Lovelace" in pdf.content

        await eventually(renamed, within=90, message="statement shows the new name")

        # Someone without a billing role at the site is refused.
        r = await http.get(f"/clients/{client_id}/charges", headers=nurse)
        assert r.status_code == 403
        other_site = token_issuer.headers(tenant_id=tenant, roles=[("site-2", "biller")])
        r = await http.get(f"/clients/{client_id}/ledger", headers=other_site)
        assert r.status_code == 403
        other_agency = token_issuer.headers(tenant_id=f"x-{unique}", roles=[("*", "biller")])
        r = await http.get(f"/claims/{claim_ref['id']}", headers=other_agency)
        assert r.status_code == 404
