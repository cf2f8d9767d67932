"""835 posting is exact and all or nothing per file, through the running billing service
(real Kafka and FerretDB; ADR 0604): two transactions of one payer with one trace number both
post; every cut of a file is refused with nothing posted and the whole file then posts once;
denials carry every CARC with its group and the RARCs, and the work queue filters on them; the
upload limit holds while the body streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.billing.tests.x12_835_support import cuts, interchange, sample
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
MANAGED = "tr3-managed-care-2-claims-co45-pr1.835"


def claim(tenant: str, number: str, total: int) -> dict[str, Any]:
    """A submitted claim of ours whose CLM01 the payer echoes in CLP01."""
    return {
        "_id": f"claim-{number}",
        "tenant_id": tenant,
        "claim_number": number,
        "client_id": "cl-1",
        "site_id": "site-1",
        "payer": "payer-1",
        "coverage_id": "cov-1",
        "sequence": "P",
        "service_date": "2026-11-02",
        "charge_ids": [],
        "lines": [],
        "total_cents": total,
        "paid_cents": 0,
        "patient_responsibility_cents": 0,
        "status": "submitted",
        "created_at": datetime.now(UTC),
    }


async def seed(
    mongo_client: AsyncMongoClient[Document], unique: str, tenant: str, claims: dict[str, int]
) -> None:
    db = mongo_client[f"t_{unique}_billing"]
    await db["clients"].insert_one(
        {
            "_id": "cl-1",
            "tenant_id": tenant,
            "home_site_id": "site-1",
            "given_name": "William",
            "family_name": "Budd",
            "date_of_birth": "1960-01-01",
        }
    )
    for number, total in claims.items():
        await db["claims"].insert_one(claim(tenant, number, total))


async def everything(http: httpx.AsyncClient) -> dict[str, Any]:
    """What posting can change, read through the API."""
    return {
        "payments": (await http.get("/payments?limit=200")).json()["items"],
        "work": (await http.get("/work-queue?limit=200")).json()["items"],
        "ledger": (await http.get("/clients/cl-1/ledger?limit=200")).json()["balance_cents"],
        "claims": (await http.get("/claims?site_id=site-1&limit=200")).json()["items"],
    }


@pytest.fixture
async def billing(
    start_service: StartService,
    token_issuer: TestTokenIssuer,
    mongo_client: AsyncMongoClient[Document],
    unique: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    service = start_service("billing")
    tenant = f"agency-{unique}"
    headers = token_issuer.headers(tenant_id=tenant, roles=[("*", "biller")])
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=60) as http:
        yield http, tenant


def check_run(claim_number: str, paid: str, patient: str, plbs: list[str]) -> list[str]:
    """One ST of a check run: same payer, same trace number (TRN02) in both."""
    return [
        "BPR*I*0*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20261130",
        "TRN*1*EFT20261130*1512345678",
        "DTM*405*20261130",
        "N1*PR*ACME HEALTH*XV*ACME1",
        "N1*PE*HALCYON CLINIC*XX*1234567893",
        "LX*1",
        f"CLP*{claim_number}*1*150*{paid}*{patient}*12*ICN{claim_number}",
        "SVC*HC:90837*150*" + paid,
        f"CAS*PR*1*{patient}",
        *plbs,
    ]


async def test_two_transactions_of_one_payer_and_trace_post_every_payment_and_plb(
    billing: tuple[httpx.AsyncClient, str],
    mongo_client: AsyncMongoClient[Document],
    unique: str,
) -> None:
    http, tenant = billing
    await seed(mongo_client, unique, tenant, {"H100": 15000, "H200": 15000})
    raw = interchange(
        check_run("H100", "100", "50", ["PLB*1234567893*20261231*WO:OVP1*5"]),
        check_run("H200", "120.5", "29.5", ["PLB*1234567893*20261231*WO:OVP2*2.5*72:AD1*-1"]),
    )
    r = await http.post("/remittances", content=raw)
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["already_ingested"] is False
    assert summary["transactions"] == 2
    assert summary["claim_payments"] == 2
    assert summary["matched"] == 2
    assert summary["provider_adjustments"] == 3

    stored = (await http.get(f"/payments?remittance_id={summary['id']}&limit=200")).json()
    payments = [p for p in stored["items"] if p["kind"] == "claim_payment"]
    plbs = [p for p in stored["items"] if p["kind"] == "provider_adjustment"]
    assert sorted(p["amount_cents"] for p in payments) == [10000, 12050]
    assert sorted(p["amount_cents"] for p in plbs) == [-100, 250, 500]
    # The summary is what is stored, not what was meant.
    assert summary["paid_cents"] == sum(p["amount_cents"] for p in payments) == 22050
    assert summary["provider_adjustment_cents"] == sum(p["amount_cents"] for p in plbs) == 650
    assert {p["transaction_control_number"] for p in payments} == {"0001", "0002"}

    claims = {
        c["claim_number"]: c for c in (await http.get("/claims?site_id=site-1")).json()["items"]
    }
    assert (claims["H100"]["paid_cents"], claims["H200"]["paid_cents"]) == (10000, 12050)
    assert claims["H100"]["status"] == claims["H200"]["status"] == "paid"
    assert (await http.get("/clients/cl-1/ledger")).json()["balance_cents"] == 5000 + 2950

    before = await everything(http)
    again = await http.post("/remittances", content=raw)
    assert again.status_code == 201
    assert again.json()["already_ingested"] is True
    assert again.json()["paid_cents"] == 22050
    assert await everything(http) == before


async def test_every_cut_of_a_file_is_refused_then_the_whole_file_posts_once(
    billing: tuple[httpx.AsyncClient, str],
    mongo_client: AsyncMongoClient[Document],
    unique: str,
) -> None:
    http, tenant = billing
    await seed(mongo_client, unique, tenant, {"5554555444": 80000, "8765432112": 120000})
    raw = sample(MANAGED)
    pieces = cuts(raw)
    assert len(pieces) > 80  # every segment boundary and three points inside each segment
    for piece in pieces:
        r = await http.post("/remittances", content=piece)
        assert r.status_code == 422, (piece[-30:], r.text)
        problem = r.json()
        assert problem["segment"]
        assert f"segment {problem['segment']}" in problem["detail"]
    untouched = await everything(http)
    assert untouched["payments"] == []
    assert untouched["work"] == []
    assert untouched["ledger"] == 0
    assert {c["status"] for c in untouched["claims"]} == {"submitted"}

    r = await http.post("/remittances", content=raw)
    assert r.status_code == 201, r.text
    assert r.json()["already_ingested"] is False, r.text
    posted = await everything(http)
    claims = {c["claim_number"]: c for c in posted["claims"]}
    assert claims["5554555444"]["paid_cents"] == 45000
    assert claims["8765432112"]["paid_cents"] == 49500
    assert claims["5554555444"]["patient_responsibility_cents"] == 30000
    assert posted["ledger"] == 30000 + 60000
    assert sorted(p["amount_cents"] for p in posted["payments"]) == [45000, 49500]

    # Sent again, as is or with CRLF line breaks: already posted, nothing new.
    for resend in (raw, raw.replace(b"~\n", b"~\r\n")):
        r = await http.post("/remittances", content=resend)
        assert r.status_code == 201, r.text
        assert r.json()["already_ingested"] is True, r.text
    assert await everything(http) == posted


async def test_denials_carry_every_carc_with_its_group_and_the_rarcs(
    billing: tuple[httpx.AsyncClient, str],
    mongo_client: AsyncMongoClient[Document],
    unique: str,
) -> None:
    http, tenant = billing
    await seed(mongo_client, unique, tenant, {"H300": 15000, "H400": 15000})
    raw = interchange(
        [
            "BPR*H*0*C*NON************20261130",
            "TRN*1*DENY1*1512345678",
            "N1*PR*ACME HEALTH*XV*ACME1",
            "LX*1",
            "CLP*H300*4*150*0*150*12*ICN300",
            "CAS*PR*27*150",
            "MOA***N30",
            "CLP*H400*4*150*0**12*ICN400",
            "CAS*CO*16*150",
            "SVC*HC:90837*150*0",
            "LQ*HE*MA130",
        ]
    )
    r = await http.post("/remittances", content=raw)
    assert r.status_code == 201, r.text
    assert r.json()["denials"] == 2, r.text

    async def queue(**filters: str) -> list[tuple[str, list[str], list[str]]]:
        items = (await http.get("/work-queue", params=filters)).json()["items"]
        return sorted((w["claim_id"], w["codes"], w["remarks"]) for w in items)

    pr27 = ("claim-H300", ["PR-27"], ["N30"])
    co16 = ("claim-H400", ["CO-16"], ["MA130"])
    assert await queue(kind="denial") == [pr27, co16]
    [item] = (await http.get("/work-queue", params={"carc": "27"})).json()["items"]
    assert item["carcs"] == [{"group": "PR", "reason": "27", "amount_cents": 15000}]
    assert await queue(group="PR") == [pr27]
    assert await queue(group="CO", carc="16") == [co16]
    assert await queue(group="PR", carc="16") == []
    assert await queue(rarc="MA130") == [co16]
    claim_h300 = (await http.get("/claims/claim-H300")).json()
    assert claim_h300["status"] == "denied"
    assert claim_h300["denial_codes"] == ["PR-27"]
    r = await http.get("/work-queue", params={"group": "XX"})
    assert r.status_code == 422


async def test_the_upload_limit_holds_while_the_body_streams(
    billing: tuple[httpx.AsyncClient, str],
) -> None:
    http, _ = billing
    chunk = b"X" * (1024 * 1024)

    async def eleven_megabytes() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield chunk

    # No Content-Length (chunked): refused once the 10 MB is passed, not after reading it all.
    r = await http.post("/remittances", content=eleven_megabytes())
    assert r.status_code == 413, r.text
    assert r.json()["type"].endswith("/payload-too-large"), r.text
    r = await http.post("/remittances", content=chunk * 11)
    assert r.status_code == 413
    assert (await http.get("/payments")).json()["items"] == []
