"""Attacks on the 835 ingest (issue 17 review): files and callers a payer or a hostile user
would send, through the running billing service (real Kafka and FerretDB)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.billing.tests.test_billing_remittance_exact import check_run, claim
from services.billing.tests.x12_835_support import interchange
from tests.fixtures import StartService

pytestmark = pytest.mark.integration

Agencies = tuple[httpx.AsyncClient, str, httpx.AsyncClient, str]


@pytest.fixture
async def two_agencies(
    start_service: StartService, token_issuer: TestTokenIssuer, unique: str
) -> AsyncIterator[Agencies]:
    """One billing service (one database, as in production) and two agencies."""
    service = start_service("billing")
    first, second = f"agency-a-{unique}", f"agency-b-{unique}"
    a_headers = token_issuer.headers(tenant_id=first, roles=[("*", "biller")])
    b_headers = token_issuer.headers(tenant_id=second, roles=[("*", "biller")])
    async with (
        httpx.AsyncClient(base_url=service.url, headers=a_headers, timeout=60) as a,
        httpx.AsyncClient(base_url=service.url, headers=b_headers, timeout=60) as b,
    ):
        yield a, first, b, second


async def seed_claim(
    mongo_client: AsyncMongoClient[Document], unique: str, tenant: str, number: str
) -> None:
    doc = claim(tenant, number, 15000)
    doc["_id"] = f"claim-{tenant}-{number}"
    await mongo_client[f"t_{unique}_billing"]["claims"].insert_one(doc)


async def test_two_agencies_posting_the_same_file_each_get_their_own_posting(
    two_agencies: Agencies, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    """Ids derived from the file alone collided across agencies in the shared collections:
    the second agency's upload was a 503 forever and nothing of it was posted."""
    a, agency_a, b, agency_b = two_agencies
    for tenant in (agency_a, agency_b):
        await seed_claim(mongo_client, unique, tenant, "H100")
    raw = interchange(check_run("H100", "100", "50", ["PLB*1234567893*20261231*WO:OVP1*5"]))
    for http, tenant in ((a, agency_a), (b, agency_b)):
        r = await http.post("/remittances", content=raw)
        assert r.status_code == 201, r.text
        assert r.json()["already_ingested"] is False
        assert r.json()["claim_payments"] == 1
        assert r.json()["provider_adjustments"] == 1
        [stored] = (await http.get("/claims?site_id=site-1")).json()["items"]
        assert stored["id"] == f"claim-{tenant}-H100"
        assert stored["paid_cents"] == 10000
        assert len((await http.get("/payments")).json()["items"]) == 2
        ledger = mongo_client[f"t_{unique}_billing"]["ledger"].find({"tenant_id": tenant})
        assert [e["amount_cents"] async for e in ledger] == [5000]


async def test_a_file_too_large_to_store_is_refused_and_posts_nothing(
    two_agencies: Agencies, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    """A 6 MB CARC on a denial stored the payment, then the claim update was too large for
    one document: a 500 and a file pending forever with half its posting."""
    a, agency_a, _, _ = two_agencies
    await seed_claim(mongo_client, unique, agency_a, "H100")
    raw = interchange(
        [
            "BPR*H*0*C*NON************20261130",
            "TRN*1*BIG1*1512345678",
            "CLP*H100*4*150*0**12*ICNX",
            "CAS*CO*" + "9" * (6 * 1024 * 1024) + "*150",
        ]
    )
    r = await a.post("/remittances", content=raw)
    assert r.status_code == 422, r.text
    assert r.json()["segment"] == "CAS", r.text
    assert (await a.get("/payments")).json()["items"] == []
    [stored] = (await a.get("/claims?site_id=site-1")).json()["items"]
    assert stored["status"] == "submitted"


async def test_hostile_work_queue_filters_are_answered_never_a_500(
    two_agencies: Agencies,
) -> None:
    a, _, _, _ = two_agencies
    for params in (
        {"kind": "$ne"},
        {"rarc": '{"$gt"}'},
    ):
        r = await a.get("/work-queue", params=params)
        assert r.status_code == 200, (params, r.text)
        assert r.json()["items"] == [], (params, r.text)
    # Cursors we never handed out, however they decode ({}, [], {"$ne": 1}): 400 problems.
    for cursor in ("!!", "e30=", "W10=", "eyIkbmUiOjF9"):
        r = await a.get("/work-queue", params={"cursor": cursor})
        assert r.status_code == 400, r.text
        assert r.json()["type"].endswith("invalid-cursor"), r.text
    # A NUL is refused by every service's input guard (ADR 0010) before the route runs.
    for params in ({"limit": "-1"}, {"group": "CO|PR"}, {"carc": "1" * 6}, {"carc": "\x00"}):
        r = await a.get("/work-queue", params=params)
        assert r.status_code == 422, (params, r.text)
    r = await a.get("/payments", params={"cursor": "%%%"})
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("invalid-cursor"), r.text


async def test_the_same_file_sent_twice_at_once_posts_once(
    two_agencies: Agencies, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    a, agency_a, _, _ = two_agencies
    await seed_claim(mongo_client, unique, agency_a, "H100")
    await seed_claim(mongo_client, unique, agency_a, "H200")
    raw = interchange(
        check_run("H100", "100", "50", ["PLB*1234567893*20261231*WO:OVP1*5*72:AD1*-1.25"]),
        check_run("H200", "120.5", "29.5", []),
    )
    first, second = await asyncio.gather(
        a.post("/remittances", content=raw), a.post("/remittances", content=raw)
    )
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["paid_cents"] == second.json()["paid_cents"] == 22050
    payments = (await a.get("/payments?limit=200")).json()["items"]
    assert sorted(p["amount_cents"] for p in payments) == [-125, 500, 10000, 12050]
    claims = {c["claim_number"]: c for c in (await a.get("/claims?site_id=site-1")).json()["items"]}
    assert (claims["H100"]["paid_cents"], claims["H200"]["paid_cents"]) == (10000, 12050)
    assert len(claims["H100"]["applied_payments"]) == 1
    ledger = mongo_client[f"t_{unique}_billing"]["ledger"].find({"tenant_id": agency_a})
    assert sorted([e["amount_cents"] async for e in ledger]) == [2950, 5000]
    again = await a.post("/remittances", content=raw)
    assert again.json()["already_ingested"] is True


async def test_an_interchange_number_reused_with_other_amounts_is_refused(
    two_agencies: Agencies, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    """A payer resending ISA13 000000301 with other amounts for the same claims was answered
    201 'posted' while every changed amount was silently dropped (same ids, already stored)
    and the summary showed the first file's money."""
    a, agency_a, _, _ = two_agencies
    await seed_claim(mongo_client, unique, agency_a, "H100")
    await seed_claim(mongo_client, unique, agency_a, "H200")
    first = interchange(check_run("H100", "100", "50", []), control="000000301")
    assert (await a.post("/remittances", content=first)).status_code == 201
    before = (await a.get("/payments?limit=200")).json()["items"]
    changed = interchange(
        check_run("H100", "90", "60", []), check_run("H200", "1", "0", []), control="000000301"
    )
    r = await a.post("/remittances", content=changed)
    assert r.status_code == 409, r.text
    assert "000000301" in r.json()["detail"]
    assert (await a.get("/payments?limit=200")).json()["items"] == before
    claims = {c["claim_number"]: c for c in (await a.get("/claims?site_id=site-1")).json()["items"]}
    assert (claims["H100"]["paid_cents"], claims["H200"]["paid_cents"]) == (10000, 0)
