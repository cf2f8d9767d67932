"""The claim batcher on in-memory repositories: a 60-line encounter becomes claims of at
most 50 lines with exact totals, and a valid 837P; a refused claim writes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from halcyon.billing.usecases.claiming import ClaimBatcher, Repos
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation
from halcyon.shared.events import ServiceEvents

from services.billing.tests.x12_validation import x12valid

TENANT = "agency-1"
ADDRESS = {"line1": "1 MAIN ST", "city": "PORTLAND", "state": "OR", "postal_code": "972011234"}


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, wanted in query.items():
        value = doc.get(key)
        if isinstance(wanted, dict) and "$in" in wanted:
            values = value if isinstance(value, list) else [value]
            if not set(values) & set(wanted["$in"]):
                return False
        elif value != wanted:
            return False
    return True


# What the running service does for a use case's events, without a running service.
EVENTS = ServiceEvents("billing")


class Memory:
    """Just enough of a TenantRepository for the batcher."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {d["_id"]: dict(d) for d in docs}
        self.writes = 0

    async def get(self, tenant: str, doc_id: str) -> dict[str, Any] | None:
        found = self.docs.get(doc_id)
        return dict(found) if found else None

    async def find(self, tenant: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(d) for d in self.docs.values() if _matches(d, query)]

    async def update(
        self, tenant: str, query: dict[str, Any], change: dict[str, Any], *_: Any, **__: Any
    ) -> dict[str, Any] | None:
        for doc in self.docs.values():
            if _matches(doc, query):
                self.writes += 1
                doc.update(change.get("$set", {}))
                return dict(doc)
        return None

    async def insert(self, tenant: str, doc: dict[str, Any], *_: Any) -> dict[str, Any]:
        self.writes += 1
        self.docs[doc["_id"]] = dict(doc)
        return doc

    async def next(self, tenant: str, name: str) -> int:
        self.writes += 1
        self.docs[name] = {"_id": name, "value": self.docs.get(name, {}).get("value", 0) + 1}
        return int(self.docs[name]["value"])


def charge(n: int, cpt: str, on: date, diagnoses: list[str]) -> dict[str, Any]:
    return {
        "_id": f"chg-{n:02d}",
        "kind": "charge",
        "status": "open",
        "site_id": "site-1",
        "payer": "acme",
        "client_id": "cl-1",
        "coverage_id": "cov-1",
        "encounter_id": "enc-1",
        "cpt": cpt,
        "modifiers": [],
        "units": 1 if cpt.startswith("9") else 2,
        "amount_cents": 10000 + n,
        "service_date": on.isoformat(),
        "place_of_service": "11",
        "diagnoses": diagnoses,
        "diagnosis_pointers": [1],
        "rendering_npi": "1003000126",
        "rendering_staff_id": "md-1",
    }


def repos(charges: list[dict[str, Any]]) -> tuple[Repos, dict[str, Memory]]:
    stores = {
        "profiles": Memory(
            {"_id": "site-1", "provider_name": "Halcyon Clinic", "npi": "1234567893",
             "tax_id": "123456789", "address": ADDRESS, "submitter_id": "HALCYONSUB",
             "receiver_id": "RECV01"}
        ),
        "payers": Memory(
            {"_id": "acme", "name": "Acme Health", "payer_id": "60054",
             "claim_filing_indicator": "CI"}
        ),
        "coverages": Memory(
            {"_id": "cov-1", "client_id": "cl-1", "payer": "acme", "member_id": "M123",
             "relationship": "self", "subscriber": {"given_name": "Zoë", "family_name": "Ørsted",
             "date_of_birth": "1980-01-02", "address": ADDRESS}}
        ),
        "clients": Memory(
            {"_id": "cl-1", "given_name": "Zoë", "family_name": "Ørsted",
             "date_of_birth": "1980-01-02", "home_site_id": "site-1"}
        ),
        "charges": Memory(*charges),
        "claims": Memory(),
        "files": Memory(),
        "counters": Memory(),
        "staff": Memory({"_id": "md-1", "display_name": "Grace Hopper"}),
        "authorizations": Memory(
            {"_id": "auth-1", "reference": "PA-1", "applied_charges": ["chg-00", "chg-59"]}
        ),
    }  # fmt: skip
    return Repos(**cast(dict[str, Any], stores)), stores


def sixty(diagnoses: list[str]) -> list[dict[str, Any]]:
    start = date(2026, 11, 2)
    lines = []
    for day in range(10):
        on = start + timedelta(days=day)
        lines += [("0820T", on), ("0821T", on), ("0822T", on)]
    lines += [("90837", start + timedelta(days=i)) for i in range(30)]
    return [charge(n, cpt, on, diagnoses) for n, (cpt, on) in enumerate(lines)]


CALLER = Caller(user_id="biller-1", tenant_id=TENANT)


async def test_a_60_line_encounter_is_billed_as_claims_of_at_most_50_lines(
    tmp_path: Path,
) -> None:
    charges = sixty(["F43.10"])
    batcher_repos, stores = repos(charges)
    result = await ClaimBatcher(batcher_repos, EVENTS).batch(CALLER, "site-1", "acme")
    claims = list(stores["claims"].docs.values())
    assert sorted(len(c["charge_ids"]) for c in claims) == [10, 50]
    for claim in claims:
        assert claim["total_cents"] == sum(line["amount_cents"] for line in claim["lines"])
    assert sum(c["total_cents"] for c in claims) == sum(c["amount_cents"] for c in charges)
    assert result["file"]["total_cents"] == sum(c["amount_cents"] for c in charges)
    # Each add-on is on the same claim as the 0820T of its date.
    for claim in claims:
        lines = [stores["charges"].docs[i] for i in claim["charge_ids"]]
        primary_days = {c["service_date"] for c in lines if c["cpt"] == "0820T"}
        assert all(
            c["service_date"] in primary_days for c in lines if c["cpt"] in ("0821T", "0822T")
        )
    text = next(iter(stores["files"].docs.values()))["content"]
    assert text.isascii()
    assert "NM1*IL*1*ORSTED*ZOE" in text
    assert text.count("REF*G1*PA-1") == 2  # one per claim: each has one authorized line
    ok, output = x12valid(text, tmp_path)
    assert ok, output


@pytest.mark.parametrize(
    ("diagnoses", "field"),
    [
        ([f"F4{i}.0" for i in range(10)] + ["F32.1", "F33.1", "F41.1"], "diagnoses"),
        ([], "diagnoses"),
    ],
)
async def test_a_refused_claim_writes_nothing(diagnoses: list[str], field: str) -> None:
    batcher_repos, stores = repos(sixty(diagnoses))
    with pytest.raises(RuleViolation) as refused:
        await ClaimBatcher(batcher_repos, EVENTS).batch(CALLER, "site-1", "acme")
    assert refused.value.extensions["field"] == field
    assert refused.value.extensions["encounter_id"] == "enc-1"
    assert all(store.writes == 0 for store in stores.values())


async def test_a_zero_unit_line_is_refused_naming_the_line() -> None:
    charges = sixty(["F43.10"])
    charges[40]["units"] = 0
    batcher_repos, stores = repos(charges)
    with pytest.raises(RuleViolation) as refused:
        await ClaimBatcher(batcher_repos, EVENTS).batch(CALLER, "site-1", "acme")
    assert refused.value.extensions["field"].endswith(".units")
    assert all(store.writes == 0 for store in stores.values())
