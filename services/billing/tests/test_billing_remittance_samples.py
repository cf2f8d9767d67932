"""The sample 835s posted through the running service (real FerretDB): payments, adjustments,
PLBs, denials, patient balances; re-ingesting changes nothing; malformed files (three samples
as they are) post nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from halcyon.shared.mongo import Document
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from services.billing.tests.x12_835_support import REFUSED_AS_IS, valid_samples
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).parent / "data" / "x12" / "835"


def claim(tenant: str, number: str, client_id: str, total: int) -> dict[str, Any]:
    """A submitted claim of ours whose CLM01 is the sample's CLP01."""
    return {
        "_id": f"claim-{number}",
        "tenant_id": tenant,
        "claim_number": number,
        "client_id": client_id,
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


async def everything(http: httpx.AsyncClient) -> dict[str, Any]:
    """What posting can change, read through the API."""
    return {
        "payments": (await http.get("/payments?limit=200")).json()["items"],
        "work": (await http.get("/work-queue?limit=200")).json()["items"],
        "ledger": (await http.get("/clients/cl-1/ledger?limit=200")).json(),
        "claims": (await http.get("/claims?site_id=site-1&limit=200")).json()["items"],
    }


async def test_sample_remittances_post_correctly_and_exactly_once(
    start_service: StartService,
    token_issuer: TestTokenIssuer,
    mongo_client: AsyncMongoClient[Document],
    unique: str,
) -> None:
    billing = start_service("billing")
    tenant = f"agency-{unique}"
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
    for number, total in [("5554555444", 80000), ("8765432112", 120000), ("2005555A", 91539)]:
        await db["claims"].insert_one(claim(tenant, number, "cl-1", total))
    headers = token_issuer.headers(tenant_id=tenant, roles=[("*", "biller")])
    async with httpx.AsyncClient(base_url=billing.url, headers=headers, timeout=60) as http:
        # Malformed first: the file would match a claim, but nothing may be posted.
        managed = (SAMPLES / "tr3-managed-care-2-claims-co45-pr1.835").read_bytes()
        broken = managed.replace(
            b"CLP*5554555444*1*800.00*450.00", b"CLP*5554555444*1*800.00*45O.00"
        )
        r = await http.post("/remittances", content=broken)
        assert r.status_code == 422
        problem = r.json()
        assert problem["segment"] == "CLP"
        assert "segment CLP" in problem["detail"]
        assert "CLP04 is not an X12 decimal amount" in problem["detail"]
        r = await http.post("/remittances", content=b"GARBAGE*NOT*X12~")
        assert r.status_code == 422
        assert "segment GAR" in r.json()["detail"]
        for name, (segment, words) in REFUSED_AS_IS.items():
            r = await http.post("/remittances", content=(SAMPLES / name).read_bytes())
            assert r.status_code == 422, r.text
            assert r.json()["segment"] == segment, r.text
            assert words in r.json()["detail"]
        untouched = await everything(http)
        assert untouched["payments"] == []
        assert untouched["work"] == []
        assert untouched["ledger"]["balance_cents"] == 0
        assert {c["status"] for c in untouched["claims"]} == {"submitted"}

        results = {}
        for name, raw in valid_samples().items():
            r = await http.post("/remittances", params={"filename": name}, content=raw)
            assert r.status_code == 201, (name, r.text)
            results[name] = r.json()
        after_first = await everything(http)

        # Managed care: two partly paid claims; deductible + coinsurance become the client's.
        claims = {c["claim_number"]: c for c in after_first["claims"]}
        assert claims["5554555444"]["status"] == "paid"
        assert claims["5554555444"]["paid_cents"] == 45000
        assert claims["8765432112"]["paid_cents"] == 49500
        assert after_first["ledger"]["balance_cents"] == 30000 + 60000
        adjustments = {
            (a["group"], a["reason"], a["amount_cents"])
            for p in after_first["payments"]
            if p.get("claim_id") == "claim-5554555444"
            for a in p["adjustments"]
        }
        assert ("CO", "A2", 5000) in adjustments

        # Denied claim: CO-16 / OA-A7 with the N14 remark, in the work queue.
        assert claims["2005555A"]["status"] == "denied"
        denial = next(w for w in after_first["work"] if w["claim_id"] == "claim-2005555A")
        assert denial["kind"] == "denial"
        assert denial["codes"] == ["CO-16", "OA-A7"]
        assert denial["remarks"] == ["N14"]

        # PLBs: Medicare's CV -1.27 and Nevada's six pairs netting -1812.27.
        plbs = [p for p in after_first["payments"] if p["kind"] == "provider_adjustment"]
        assert sorted(p["amount_cents"] for p in plbs if p["reason"] == "CV") == [-127]
        nevada = [p for p in plbs if p["reference"].startswith("8888")]
        assert len(nevada) == 6
        assert sum(p["amount_cents"] for p in nevada) == -181227

        # Payments nobody's claim matches wait for a biller; the dental check has 9.
        dental = results["x12org-dental-9-claims-single-check-co45-pr3.835"]
        assert dental["claim_payments"] == 9
        assert dental["unmatched"] == 9
        assert dental["paid_cents"] == dental["payment_cents"] == 81080
        eme = results["emedny-3-claims-paid-denied-partial.835"]
        assert eme["claim_payments"] == 3
        assert eme["denials"] == 1

        # Every file again: nothing changes.
        for raw in valid_samples().values():
            r = await http.post("/remittances", content=raw)
            assert r.status_code == 201
            assert r.json()["already_ingested"] is True
        assert await everything(http) == after_first
