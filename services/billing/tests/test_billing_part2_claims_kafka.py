"""42 CFR Part 2 on claims, and the claim rules a payer checks, on real Kafka and FerretDB.

A Part 2 encounter's charge is held until clinical's Part 2 consent for payment to that
payer is active; no 837P leaves while it is held; revocation holds it again. Audio-only
telehealth carries the payer's modifier; undocumented minutes make a held charge in the
work queue; a claim a payer would reject is a 422 naming the field, with nothing written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.clinical import (
    ClientRegistered,
    ConsentChanged,
    EncounterClinician,
    EncounterSigned,
)
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import publish, read_envelopes, wrap
from services.billing.tests.x12_validation import x12valid
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
ADDRESS = {"line1": "12 Calle Peñón", "city": "Española", "state": "NM", "postal_code": "875321234"}
PART2_REASON = "42 CFR Part 2: no active Part 2 consent for payment to this payer"


def therapy(encounter_id: str, client_id: str, **changes: Any) -> EncounterSigned:
    fields: dict[str, Any] = {
        "encounter_id": encounter_id,
        "client_id": client_id,
        "site_id": "site-1",
        "kind": "psychotherapy",
        "service_date": date(2026, 11, 2),
        "started_at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 2, 16, 0, tzinfo=UTC),
        "psychotherapy_minutes": 55,
        "clinicians": [
            EncounterClinician(staff_id="md-1", role="therapist", npi="1003000126", minutes=55)
        ],
        "diagnoses": ["F43.10"],
        "place_of_service": "11",
        "signed_at": datetime(2026, 11, 2, 16, 5, tzinfo=UTC),
    }
    fields.update(changes)
    return EncounterSigned(**fields)


def consent(consent_id: str, client_id: str, status: str, recipient: str) -> ConsentChanged:
    return ConsentChanged(
        consent_id=consent_id,
        client_id=client_id,
        kind="part2",
        status=status,
        effective_at=datetime(2026, 1, 1, tzinfo=UTC),
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        recipient=recipient,
        purpose="payment",
    )


async def set_up(http: httpx.AsyncClient, client_id: str) -> tuple[str, str]:
    """Billing profile, payer Acme (audio-only modifier FQ), coverage, fees, authorization."""

    async def client_known() -> bool:
        return (await http.get(f"/clients/{client_id}/charges")).status_code == 200

    await eventually(client_known, within=90, message="client read model")
    r = await http.put(
        "/sites/site-1/billing-profile",
        json={
            "provider_name": "Halcyon Clinic",
            "npi": "1234567893",
            "tax_id": "123456789",
            "address": {"line1": "1 MAIN ST", "city": "PORTLAND", "state": "OR",
                        "postal_code": "972011234"},
            "submitter_id": "HALCYONSUB",
            "receiver_id": "RECV01",
        },
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await http.post(
        "/payers",
        json={
            "name": "Acme Health",
            "payer_id": "60054",
            "claim_filing_indicator": "CI",
            "audio_only_modifier": "FQ",
        },
    )
    assert r.status_code == 201, r.text
    acme = r.json()["id"]
    r = await http.post(
        f"/clients/{client_id}/coverages",
        json={
            "payer": acme,
            "rank": "primary",
            "starts_on": "2026-01-01",
            "member_id": "M123",
            "subscriber": {
                "given_name": "José",
                "family_name": "Núñez",
                "date_of_birth": "1980-02-03",
                "sex": "M",
                "address": ADDRESS,
            },
        },
    )
    assert r.status_code == 201, r.text
    coverage = r.json()["id"]
    for modifiers in ([], ["FQ"]):
        r = await http.post(
            "/fee-schedules",
            json={"site_id": "site-1", "payer": acme, "cpt": "90837", "modifiers": modifiers,
                  "rate_cents": 18000, "starts_on": "2026-01-01"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    return acme, coverage


async def test_part2_claim_is_held_until_consent_and_again_after_revocation(
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
    encounter_id = f"sud-{unique}"
    biller = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    registered = ClientRegistered(
        client_id=client_id,
        home_site_id="site-1",
        given_name="José",
        family_name="Núñez",
        date_of_birth=date(1980, 2, 3),
    )
    kafka = servers.kafka_bootstrap
    await publish(kafka, f"{topic_prefix}clinical.client.v1", wrap(registered, tenant))
    consents = f"{topic_prefix}clinical.consent.v1"
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:
        acme, coverage = await set_up(http, client_id)
        r = await http.post(
            f"/clients/{client_id}/authorizations",
            json={"coverage_id": coverage, "cpt": "90837", "units_authorized": 10,
                  "reference": "AUTH778899", "starts_on": "2026-10-01", "ends_on": "2026-12-31"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        # An alcohol use disorder (F10.20): clinical marks the encounter Part 2.
        signed = therapy(encounter_id, client_id, diagnoses=["F10.20", "F43.10"], part2=True)
        await publish(kafka, f"{topic_prefix}clinical.encounter.v1", wrap(signed, tenant))

        async def charge_status(wanted: str) -> dict[str, Any] | None:
            items = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
            return items[0] if items and items[0]["status"] == wanted else None

        async def part2_items() -> list[dict[str, Any]]:
            r = await http.get("/work-queue", params={"kind": "part2_hold"})
            return [w for w in r.json()["items"] if w.get("client_id") == client_id]

        held = await eventually(lambda: charge_status("held"), within=90, message="held")
        assert held["hold_reasons"] == [PART2_REASON]
        assert held["amount_cents"] == 18000
        [item] = await part2_items()
        assert item["reason"] == PART2_REASON
        assert item["encounter_id"] == encounter_id

        async def batch() -> dict[str, Any]:
            r = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
            assert r.status_code == 201, r.text
            result: dict[str, Any] = r.json()
            return result

        # Held: no 837P.
        result = await batch()
        assert result["file"] is None
        assert result["claims"] == []

        # A Part 2 consent for a different recipient or purpose changes nothing.
        other = consent(f"c0-{unique}", client_id, "active", "Other Health")
        await publish(kafka, consents, wrap(other, tenant))
        # The consent for payment to Acme releases the charge (recipient spelled loosely).
        given = consent(f"c1-{unique}", client_id, "active", "  acme   HEALTH ")
        await publish(kafka, consents, wrap(given, tenant))
        released = await eventually(lambda: charge_status("open"), within=90, message="release")
        assert released["hold_reasons"] == []
        assert await part2_items() == []  # the work item is resolved

        # Revoked before a batch: held again, and still no 837P.
        revoked = consent(f"c1-{unique}", client_id, "revoked", "Acme Health")
        await publish(kafka, consents, wrap(revoked, tenant))
        again = await eventually(lambda: charge_status("held"), within=90, message="re-held")
        assert again["hold_reasons"] == [PART2_REASON]
        assert len(await part2_items()) == 1
        result = await batch()
        assert result["file"] is None
        assert result["claims"] == []

        # A new consent: the claim goes out, valid, ASCII, with the authorization number.
        renewed = consent(f"c2-{unique}", client_id, "active", "60054")
        await publish(kafka, consents, wrap(renewed, tenant))
        await eventually(lambda: charge_status("open"), within=90, message="released again")
        result = await batch()
        [claim] = result["claims"]
        text = (await http.get(f"/claim-files/{result['file']['id']}")).text
        assert text.isascii()
        assert "NM1*IL*1*NUNEZ*JOSE****MI*M123" in text
        assert "N3*12 CALLE PENON" in text
        assert "N4*ESPANOLA*NM*875321234" in text
        assert "REF*G1*AUTH778899" in text
        assert "HI*ABK:F1020*ABF:F4310" in text
        ok, output = x12valid(text, tmp_path)
        assert ok, output

        # Listing claims (they carry diagnoses) is an audited read of the client's data.
        listed = await http.get("/claims", params={"site_id": "site-1"})
        assert [c["id"] for c in listed.json()["items"]] == [claim["id"]]

    audits = await read_envelopes(kafka, f"{topic_prefix}audit.access.v1", want=1, within=60)
    reads = [
        e.data
        for e in audits
        if e.data.get("resource") == "claim"
        and e.data.get("action") == "read"
        and e.data.get("resource_id") == claim["id"]
    ]
    assert reads
    assert reads[0]["client_id"] == client_id


async def test_payer_rules_audio_only_held_minutes_and_refusals(
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
    registered = ClientRegistered(
        client_id=client_id,
        home_site_id="site-1",
        given_name="Ada",
        family_name="Byron",
        date_of_birth=date(1990, 1, 2),
    )
    kafka = servers.kafka_bootstrap
    await publish(kafka, f"{topic_prefix}clinical.client.v1", wrap(registered, tenant))
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:
        acme, _ = await set_up(http, client_id)
        encounters = f"{topic_prefix}clinical.encounter.v1"
        phone = therapy(
            f"phone-{unique}", client_id, telehealth=True, audio_only=True, place_of_service="10"
        )
        no_minutes = therapy(f"nomin-{unique}", client_id, psychotherapy_minutes=None)
        await publish(kafka, encounters, wrap(phone, tenant), wrap(no_minutes, tenant))

        async def both() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = (await http.get(f"/clients/{client_id}/charges")).json()[
                "items"
            ]
            return items if len(items) >= 2 else None

        charges = {c["encounter_id"]: c for c in await eventually(both, within=90, message="2")}
        audio = charges[f"phone-{unique}"]
        assert audio["modifiers"] == ["FQ"]
        assert audio["status"] == "open"
        assert audio["amount_cents"] == 18000
        undocumented = charges[f"nomin-{unique}"]
        assert undocumented["status"] == "held"
        assert undocumented["amount_cents"] == 0
        assert any("minutes are not documented" in h for h in undocumented["hold_reasons"])
        queue = (await http.get("/work-queue", params={"kind": "held_charge"})).json()["items"]
        [item] = [w for w in queue if w.get("client_id") == client_id]
        assert item["charge_id"] == undocumented["id"]
        assert "minutes" in item["reason"]
        # Repricing does not release a charge that is waiting for documentation.
        r = await http.post("/charges/reprice", json={"site_id": "site-1"})
        assert r.status_code == 200, r.text
        again = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
        assert {c["id"]: c["status"] for c in again}[undocumented["id"]] == "held"

        # Thirteen diagnoses cannot go on a claim: refused, naming the field; nothing written.
        many = [f"F4{i}.0" for i in range(10)] + ["F32.1", "F33.1", "F41.1"]
        await publish(
            kafka, encounters, wrap(therapy(f"many-{unique}", client_id, diagnoses=many), tenant)
        )

        async def three() -> bool:
            items = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
            return len(items) >= 3

        await eventually(three, within=90, message="third encounter")
        r = await http.post("/claims/batches", json={"site_id": "site-1", "payer": acme})
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["field"] == "diagnoses"
        assert problem["encounter_id"] == f"many-{unique}"
        assert (await http.get("/claims", params={"site_id": "site-1"})).json()["items"] == []
        after = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
        assert all(c["status"] != "claimed" for c in after)
