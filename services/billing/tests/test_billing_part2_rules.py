"""42 CFR 2.31: which consent lets a Part 2 claim go to a payer (pure rules + the batcher's
check that also guards secondary and corrected claims)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from halcyon.billing.domain.part2 import HOLD_REASON, consent_for_payment
from halcyon.billing.usecases.claiming import ClaimBatcher
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation

from services.billing.tests.test_billing_claim_batching import (
    EVENTS,
    TENANT,
    Memory,
    repos,
    sixty,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ACME = ("Acme Health", "60054")


def consent(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "_id": "c1",
        "client_id": "cl-1",
        "kind": "part2",
        "status": "active",
        "recipient": "Acme Health",
        "purpose": "payment",
        "effective_at": NOW - timedelta(days=1),
        "expires_at": NOW + timedelta(days=3650),
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "allowed"),
    [
        ({}, True),
        ({"recipient": " ACME   health"}, True),
        ({"recipient": "60054"}, True),  # the payer id also names it
        ({"recipient": "Other Health"}, False),
        ({"purpose": "treatment"}, False),  # 2.31(a)(4): the purpose must be payment
        ({"kind": "release_of_information"}, False),  # a general ROI is not a Part 2 consent
        ({"status": "revoked"}, False),
        ({"status": "expired"}, False),
        ({"expires_at": NOW - timedelta(minutes=1)}, False),  # expired, sweep not run yet
        ({"effective_at": NOW + timedelta(days=1)}, False),  # not yet effective
        ({"effective_at": (NOW - timedelta(days=1)).replace(tzinfo=None)}, True),  # naive UTC
    ],
)
def test_only_an_active_part2_consent_for_payment_naming_the_payer_allows_the_claim(
    changes: dict[str, Any], allowed: bool
) -> None:
    found = consent_for_payment([consent(**changes)], *ACME, NOW)
    assert (found is not None) is allowed


async def test_the_batcher_holds_part2_charges_without_consent_and_not_others() -> None:
    charges = sixty(["F10.20"])
    for charge in charges:
        charge["part2"] = True
    batcher_repos, stores = repos(charges)
    payer = stores["payers"].docs["acme"]
    batcher = ClaimBatcher(batcher_repos, EVENTS)
    assert await batcher.part2_hold(TENANT, "cl-1", payer, charges) == HOLD_REASON
    plain = [{**c, "part2": False} for c in charges]
    assert await batcher.part2_hold(TENANT, "cl-1", payer, plain) is None
    live = consent(effective_at=datetime.now(UTC) - timedelta(days=1))
    batcher_repos.part2_consents = Memory(live)  # type: ignore[assignment]
    assert await batcher.part2_hold(TENANT, "cl-1", payer, charges) is None
    # Batching with no consent: nothing claimed, no file, the reason in `skipped`.
    batcher_repos.part2_consents = None
    result = await batcher.batch(Caller("biller-1", TENANT), "site-1", "acme")
    assert result["file"] is None
    assert result["skipped"][0]["reason"] == HOLD_REASON
    assert stores["files"].docs == {}
    assert stores["claims"].docs == {}


async def test_a_secondary_claim_for_a_part2_encounter_needs_a_consent_naming_that_payer() -> None:
    charges = sixty(["F10.20"])[:3]  # one day's 0820T with its add-ons
    for c in charges:
        c.update(part2=True, status="claimed", claim_id="p1")
    batcher_repos, stores = repos(charges)
    stores["payers"].docs["other"] = {
        "_id": "other", "name": "Other Health", "payer_id": "99999",
        "claim_filing_indicator": "CI",
    }  # fmt: skip
    primary_coverage = stores["coverages"].docs["cov-1"]
    primary_coverage.update(rank="primary", starts_on="2026-01-01")
    stores["coverages"].docs["cov-2"] = {
        **primary_coverage, "_id": "cov-2", "payer": "other", "rank": "secondary",
        "member_id": "S9",
    }  # fmt: skip
    stores["claims"].docs["p1"] = {
        "_id": "p1", "claim_number": "H000000001", "sequence": "P", "status": "paid",
        "client_id": "cl-1", "site_id": "site-1", "payer": "acme", "coverage_id": "cov-1",
        "service_date": charges[0]["service_date"], "charge_ids": [c["_id"] for c in charges],
        "paid_cents": 100, "patient_responsibility_cents": 0, "line_adjudications": [],
        "claim_adjustments": [], "adjudicated_on": "2026-11-20",
    }  # fmt: skip
    # The Acme consent does not cover Other Health: no secondary 837P.
    batcher_repos.part2_consents = Memory(  # type: ignore[assignment]
        consent(effective_at=datetime.now(UTC) - timedelta(days=1))
    )
    with pytest.raises(RuleViolation) as held:
        await ClaimBatcher(batcher_repos, EVENTS).secondary(Caller("biller-1", TENANT), "p1")
    assert held.value.extensions["hold"] == "part2"
    assert stores["files"].docs == {}
    # A consent for payment to Other Health lets it go.
    batcher_repos.part2_consents = Memory(  # type: ignore[assignment]
        consent(_id="c2", recipient="Other Health", effective_at=datetime.now(UTC) - timedelta(1))
    )
    result = await ClaimBatcher(batcher_repos, EVENTS).secondary(Caller("biller-1", TENANT), "p1")
    assert result["file"] is not None
    assert len(stores["files"].docs) == 1
