"""Buy and bill on the real broker: a dispensed dose of esketamine is charged once per mg
(S0013) and announced once on billing.charge.v1; a sponsor-supplied MDMA dose is not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.inventory import DoseDispensed
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

SPRAVATO_84 = "prod-spravato-84"


def dose(ledger_entry_id: str, client_id: str, substance: str, mg: float, **more: Any) -> Any:
    event = DoseDispensed(
        ledger_entry_id=ledger_entry_id,
        registration_id="reg-1",
        site_id="site-1",
        client_id=client_id,
        substance=substance,
        product_id=SPRAVATO_84 if substance == "esketamine" else "prod-mdma",
        lot_id="lot-1",
        quantity_mg=mg,
        administered_by="rn-1",
        witness_id="rn-2",
        prescriber_id="md-1",
        administered_at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        **more,
    )
    return event


def from_inventory(event: DoseDispensed, tenant: str) -> EventEnvelope:
    return EventEnvelope.wrap(event, source="/halcyon/inventory", tenant_id=tenant)


async def test_esketamine_dose_is_charged_once_per_mg_and_mdma_is_not_billed(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id, appointment_id = f"cl-{unique}", f"appt-{unique}"
    esketamine_entry, mdma_entry = f"led-esk-{unique}", f"led-mdma-{unique}"
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}clinical.client.v1",
        wrap(client_registered(client_id), tenant),
    )
    async with httpx.AsyncClient(base_url=billing.url, headers=headers, timeout=60) as http:
        r = await http.post(
            "/fee-schedules",
            json={
                "site_id": "site-1",
                "payer": "self-pay",
                "cpt": "S0013",
                "rate_cents": 2500,
                "starts_on": "2026-01-01",
            },
        )
        assert r.status_code == 201, r.text
        r = await http.put(
            "/drug-codes/esketamine",
            json={
                "billable": True,
                "hcpcs": "S0013",
                "mg_per_unit": 1,
                "products": [{"product_id": SPRAVATO_84, "ndc": "50458-028-03"}],
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["products"] == [{"product_id": SPRAVATO_84, "ndc": "50458002803"}]

    esketamine = dose(
        esketamine_entry, client_id, "esketamine", 84.0, appointment_id=appointment_id
    )
    delivered = from_inventory(esketamine, tenant)
    # The same envelope twice (a relay retry) and the same dose under a new event id (a
    # producer re-sending after a crash), then an MDMA dose. One key keeps them in order,
    # so once the MDMA dose is recorded, every esketamine delivery has been consumed.
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}inventory.dispense.v1",
        delivered,
        delivered,
        from_inventory(esketamine, tenant),
        from_inventory(dose(mdma_entry, client_id, "mdma", 120.0), tenant),
        key=client_id,
    )

    async with httpx.AsyncClient(base_url=billing.url, headers=headers, timeout=60) as http:

        async def dispenses() -> dict[str, dict[str, Any]] | None:
            response = await http.get(f"/clients/{client_id}/dispenses")
            if response.status_code != 200:
                return None
            found = {d["id"]: d for d in response.json()["items"]}
            return found if mdma_entry in found else None

        recorded = await eventually(dispenses, within=90, message="both doses consumed")
        assert recorded[mdma_entry]["billed"] is False
        assert "study sponsor" in recorded[mdma_entry]["not_billed_reason"]
        assert recorded[esketamine_entry]["charge_id"] == f"chg:dose:{esketamine_entry}"

        charges = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
        assert len(charges) == 1, charges
        [charge] = charges
        assert (charge["cpt"], charge["units"], charge["amount_cents"]) == ("S0013", 84, 84 * 2500)
        assert charge["encounter_id"] == appointment_id  # the dosing visit
        assert charge["ndc"] == "50458002803"
        assert charge["quantity_mg"] == 84.0
        # No note for the visit yet: no diagnosis, so not billable to a payer yet.
        assert charge["status"] == "held"
        assert charge["diagnoses"] == []
        ledger = (await http.get(f"/clients/{client_id}/ledger")).json()
        assert ledger["balance_cents"] == 84 * 2500  # self-pay: the client owes the drug

        # The dosing visit's note is signed: the drug charge takes its diagnosis and is
        # billable; the note's own services are charged as before, on the note.
        note = dosing_signed(f"enc-{unique}", client_id, appointment_id=appointment_id)
        await publish(
            servers.kafka_bootstrap, f"{topic_prefix}clinical.encounter.v1", wrap(note, tenant)
        )

        async def released() -> dict[str, Any] | None:
            items = (await http.get(f"/clients/{client_id}/charges")).json()["items"]
            drug = next(c for c in items if c["cpt"] == "S0013")
            return drug if drug["status"] == "open" else None

        drug = await eventually(released, within=90, message="drug charge released by the note")
        assert drug["diagnoses"] == ["F43.10"]
        assert drug["diagnosis_pointers"] == [1]
        assert drug["hold_reasons"] == []

    # Downstream (a partner on billing.charge.v1) sees the dose announced exactly once:
    # the drug charge plus the note's two monitoring charges.
    events = await read_envelopes(servers.kafka_bootstrap, f"{topic_prefix}billing.charge.v1", 3)
    created = [e.data for e in events if e.type == "halcyon.billing.charge.created.v1"]
    drug_events = [d for d in created if d.get("ledger_entry_id") == esketamine_entry]
    assert len(drug_events) == 1, created
    [announced] = drug_events
    assert (announced["cpt"], announced["units"], announced["amount_cents"]) == (
        "S0013",
        84,
        84 * 2500,
    )
    assert announced["ndc"] == "50458002803"
    assert announced["encounter_id"] == appointment_id
    assert not [d for d in created if d.get("ledger_entry_id") == mdma_entry]
    assert sorted(d["cpt"] for d in created) == ["0820T", "0822T", "S0013"]


ADDRESS = {"line1": "1 MAIN ST", "city": "PORTLAND", "state": "OR", "postal_code": "972011234"}


async def test_an_insured_clients_drug_line_goes_on_the_837p_with_its_ndc(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    tmp_path: Path,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    client_id, appointment_id = f"cl-{unique}", f"appt-{unique}"
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    await publish(
        servers.kafka_bootstrap,
        f"{topic_prefix}clinical.client.v1",
        wrap(client_registered(client_id), tenant),
    )
    async with httpx.AsyncClient(base_url=billing.url, headers=headers, timeout=60) as http:

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
        payer = (
            await http.post(
                "/payers",
                json={"name": "Acme Health", "payer_id": "60054", "claim_filing_indicator": "CI"},
            )
        ).json()["id"]
        r = await http.post(
            f"/clients/{client_id}/coverages",
            json={
                "payer": payer,
                "rank": "primary",
                "starts_on": "2026-01-01",
                "member_id": "M123",
                "subscriber": {
                    "given_name": "Ada",
                    "family_name": "Byron",
                    "date_of_birth": "1990-01-02",
                    "address": ADDRESS,
                },
            },
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            "/fee-schedules",
            json={
                "site_id": "site-1",
                "payer": payer,
                "cpt": "S0013",
                "rate_cents": 2500,
                "starts_on": "2026-01-01",
            },
        )
        assert r.status_code == 201, r.text
        r = await http.put(
            "/drug-codes/esketamine",
            json={
                "billable": True,
                "hcpcs": "S0013",
                "products": [{"product_id": SPRAVATO_84, "ndc": "50458-028-03"}],
            },
        )
        assert r.status_code == 200, r.text
        refused = [
            {"billable": True},  # billed as what?
            {"billable": False},  # not billed: say why
            {"billable": True, "hcpcs": "S0013", "products": [{"product_id": "p", "ndc": "12"}]},
        ]
        for body in refused:
            r = await http.put("/drug-codes/esketamine", json=body)
            assert r.status_code == 422, (body, r.text)
        nurse = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "nurse")])
        off = {"billable": False, "not_billed_reason": "samples"}
        r = await http.put("/drug-codes/esketamine", json=off, headers=nurse)
        assert r.status_code == 403
        codes = {c["substance"]: c for c in (await http.get("/drug-codes")).json()["items"]}
        assert codes["esketamine"]["products"][0]["ndc"] == "50458002803"  # unchanged
        assert codes["mdma"]["billable"] is False
        assert codes["mdma"]["default"] is True
        # The note first this time: the dose's charge is billable as soon as it is made.
        note = dosing_signed(f"enc-{unique}", client_id, appointment_id=appointment_id)
        await publish(
            servers.kafka_bootstrap, f"{topic_prefix}clinical.encounter.v1", wrap(note, tenant)
        )

        async def charges(n: int) -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = (await http.get(f"/clients/{client_id}/charges")).json()[
                "items"
            ]
            return items if len(items) >= n else None

        await eventually(lambda: charges(2), within=90, message="the note's charges")
        esketamine = dose(
            f"led-{unique}", client_id, "esketamine", 84.0, appointment_id=appointment_id
        )
        await publish(
            servers.kafka_bootstrap,
            f"{topic_prefix}inventory.dispense.v1",
            from_inventory(esketamine, tenant),
        )
        found = await eventually(lambda: charges(3), within=90, message="the drug charge")
        drug = next(c for c in found if c["cpt"] == "S0013")
        assert (drug["status"], drug["payer"], drug["diagnoses"]) == ("open", payer, ["F43.10"])

        batch = await http.post("/claims/batches", json={"site_id": "site-1", "payer": payer})
        assert batch.status_code == 201, batch.text
        # Claims group charges by encounter; the drug's is the dosing appointment, so it
        # has a claim of its own (the note's monitoring codes have no fee here: held).
        assert [c["total_cents"] for c in batch.json()["claims"]] == [84 * 2500]
        text = (await http.get(f"/claim-files/{batch.json()['file']['id']}")).text
        ok, output = x12valid(text, tmp_path, "drug.837")
        assert ok, output
        assert "SV1*HC:S0013*2100*UN*84***1~" in text
        assert "LIN**N4*50458002803~\nCTP****84*ME~" in text
