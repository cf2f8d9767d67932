"""270 -> 271 round trip on the real servers: the answer updates the coverage, exactly."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from services.billing.tests.billing_support import client_registered, publish, wrap
from services.billing.tests.test_billing_part2_claims_kafka import set_up
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


def answer_271(trace: str, member: str = "M123", payer: str = "60054", eb_copay: str = "25") -> str:
    body = [
        "ST*271*0001*005010X279A1",
        "BHT*0022*11*X1*20261102*1200",
        "HL*1**20*1",
        f"NM1*PR*2*ACME HEALTH*****PI*{payer}",
        "HL*2*1*21*1",
        "NM1*1P*2*HALCYON CLINIC*****XX*1234567893",
        "HL*3*2*22*0",
        f"TRN*2*{trace}*9123456789",
        f"NM1*IL*1*NUNEZ*JOSE****MI*{member}",
        "DTP*346*D8*20260101",
        "DTP*347*D8*20261231",
        "EB*1**30**ACME GOLD",
        f"EB*B*IND*MH***27*{eb_copay}*****Y",
        "EB*A*IND*MH***23**.15****Y",
        "EB*C*IND*30***23*1500*****Y",
        "EB*C*IND*30***29*1234.56*****Y",
    ]
    body.append(f"SE*{len(body) + 1}*0001")
    isa = (
        "ISA*00*          *00*          *ZZ*ACME           *ZZ*HALCYONSUB     "
        "*261102*1200*^*00501*000000077*0*P*:"
    )
    gs = "GS*HB*ACME*HALCYONSUB*20261102*1200*77*X*005010X279A1"
    return "~".join([isa, gs, *body, "GE*1*77", "IEA*1*000000077"]) + "~"


async def test_a_271_answering_our_270_updates_the_coverage(
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
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:
        _, coverage = await set_up(http, client_id)
        r = await http.post(
            f"/clients/{client_id}/eligibility-requests",
            json={"coverage_id": coverage, "on": "2026-11-02"},
        )
        assert r.status_code == 201, r.text
        assert r.text.isascii()
        assert "NM1*IL*1*NUNEZ*JOSE****MI*M123~" in r.text
        match = re.search(r"TRN\*1\*([^*~]+)\*", r.text)
        assert match is not None
        trace = match.group(1)

        async def eligibility() -> dict[str, Any]:
            items = (await http.get(f"/clients/{client_id}/coverages")).json()["items"]
            found: dict[str, Any] = items[0].get("eligibility") or {}
            return found

        # Malformed, someone else's, or never asked: 422, and the coverage is unchanged.
        refused = [
            (answer_271(trace, eb_copay="2.5E+1"), "EB"),
            (answer_271(trace).replace("SE*17*", "SE*16*"), "SE"),
            (answer_271(trace)[:-40], None),
            (answer_271("E-NEVER-SENT"), None),
            (answer_271(trace, member="OTHER1"), None),
            (answer_271(trace, payer="99999"), None),
        ]
        for text, segment in refused:
            r = await http.post("/eligibility-responses", content=text.encode())
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            if segment:
                assert r.json()["segment"] == segment
        assert await eligibility() == {}

        r = await http.post("/eligibility-responses", content=answer_271(trace).encode())
        assert r.status_code == 201, r.text
        shown = await eligibility()
        assert shown["status"] == "active"
        assert shown["plan_name"] == "ACME GOLD"
        assert (shown["plan_begins_on"], shown["plan_ends_on"]) == ("2026-01-01", "2026-12-31")
        assert shown["copay_cents"] == 2500
        assert shown["coinsurance_percent"] == "15"
        assert shown["deductible_cents"] == 150000
        assert shown["deductible_remaining_cents"] == 123456
        assert shown["as_of"] == "2026-11-02"
        assert shown["trace_number"] == trace

        # The plan lapsed: a later answer says inactive.
        inactive = answer_271(trace).replace("EB*1**30**ACME GOLD", "EB*6**30")
        r = await http.post("/eligibility-responses", content=inactive.encode())
        assert r.status_code == 201, r.text
        assert (await eligibility())["status"] == "inactive"
