"""Attacks on claim generation, CPT rules, 271 reading and Part 2 holds (issue 17 review):
each test is a defect found by trying what a clearinghouse, a payer or a hostile caller sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from halcyon.billing.api.eligibility import MAX_271_BYTES, read_271_body
from halcyon.billing.domain.charges import (
    ActiveCharge,
    charge_id,
    claim_context,
    plan_capture,
    stored_facts,
)
from halcyon.billing.domain.claim837 import ClaimRefused, write_837p
from halcyon.billing.domain.coding import Clinician, EncounterFacts, code_encounter
from halcyon.billing.domain.eligibility271 import read_271
from halcyon.billing.domain.part2 import HOLD_REASON
from halcyon.billing.domain.x12 import X12Error
from halcyon.billing.store import Charges, Part2Consents, Payers
from halcyon.billing.usecases.claiming import ClaimBatcher
from halcyon.billing.usecases.eligibility import EligibilityResponses
from halcyon.billing.usecases.part2_claims import Part2Holds
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.clinical import ConsentChanged
from halcyon.shared.errors import RuleViolation

from services.billing.tests.test_billing_claim_batching import CALLER as BATCH_CALLER
from services.billing.tests.test_billing_claim_batching import EVENTS, Memory
from services.billing.tests.test_billing_claim_batching import charge as batch_charge
from services.billing.tests.test_billing_claim_batching import repos as batch_repos
from services.billing.tests.test_billing_x12_271 import with_benefits
from services.billing.tests.test_billing_x12_837 import PROVIDER, envelope, primary_claim
from services.billing.tests.x12_validation import x12valid

SIGNED = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


def therapy(**changes: object) -> EncounterFacts:
    base = EncounterFacts(
        encounter_id="enc-1",
        client_id="cl-1",
        site_id="site-1",
        kind="psychotherapy",
        service_date=date(2026, 11, 2),
        clinicians=(Clinician("st-1", "therapist", npi="1245319599"),),
        diagnoses=("F43.10",),
        place_of_service="11",
        signed_at=SIGNED,
        psychotherapy_minutes=55,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_addendum_replacing_the_diagnosis_with_an_sud_one_recaptures_the_charge() -> None:
    """42 CFR Part 2: an addendum that turns F43.10 into F11.20 (same number of diagnoses,
    so the same pointers and CPT) must not keep the old charge: the claim would carry the
    old diagnosis and, worse, the charge would never be held for a Part 2 consent."""
    first = code_encounter(therapy())
    active = [
        ActiveCharge(
            charge_id("enc-1", 1, ln.key),
            ln.key,
            stored_facts(ln),
            claim_context(("F43.10",), False),
        )
        for ln in first.lines
    ]
    revised = code_encounter(therapy(diagnoses=("F11.20",), revision=2))
    plan = plan_capture(
        "enc-1", 2, revised.lines, active, claim_context=claim_context(("F11.20",), True)
    )
    assert plan.reverse == (charge_id("enc-1", 1, "psychotherapy"),)
    assert [line.cpt for _, line in plan.create] == ["90837"]
    # The same diagnoses and Part 2 flag again: nothing changes (redelivery converges).
    same = plan_capture(
        "enc-1", 1, first.lines, active, claim_context=claim_context(("F43.10",), False)
    )
    assert same.create == ()
    assert same.reverse == ()


@pytest.mark.parametrize(
    ("family_name", "line1"),
    [
        ("***", "1 MAIN ST"),  # separators only: cleaned away
        ("\u0301\u0301", "1 MAIN ST"),  # combining marks only
        ("   ", "1 MAIN ST"),
        ("SMITH", "~^:"),
    ],
)
def test_a_name_or_address_that_cleans_to_nothing_is_refused_not_written_empty(
    family_name: str, line1: str, tmp_path: Path
) -> None:
    """NM103 and N301 are mandatory: a name made only of X12 separators, combining marks
    or spaces became an empty element that pyx12 (and a clearinghouse) rejects."""
    claim = primary_claim()
    subscriber = replace(
        claim.subscriber,
        name=family_name,
        address=replace(claim.subscriber.address, line1=line1),  # type: ignore[type-var]
    )
    claim = replace(claim, subscriber=subscriber, patient=subscriber)
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(80), PROVIDER, [claim])
    wanted = "subscriber.name" if family_name != "SMITH" else "subscriber.address.line1"
    assert refused.value.field == wanted
    # What survives cleaning still validates: an apostrophe, a hyphen and separators inside.
    fine = replace(primary_claim().subscriber, name="O'Brien-Sm*ith~", given_name="Zoë^Ann:")
    text = write_837p(envelope(81), PROVIDER, [replace(claim, subscriber=fine, patient=fine)])
    assert "NM1*IL*1*O'BRIEN-SMITH*ZOEANN" in text
    ok, output = x12valid(text, tmp_path)
    assert ok, output


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"modifiers": ("9",)}, "lines[1].modifiers"),
        ({"modifiers": ("GTX",)}, "lines[1].modifiers"),
        ({"modifiers": ("",)}, "lines[1].modifiers"),
        ({"modifiers": ("g*",)}, "lines[1].modifiers"),
        ({"units": 10**15}, "lines[1].units"),  # SV104 holds 15 digits
        ({"charge_cents": 10**20}, "lines[1].charge_cents"),  # SV102 holds 18 characters
        ({"charge_cents": -100}, "lines[1].charge_cents"),
    ],
)
def test_modifiers_units_and_amounts_an_837p_cannot_carry_are_refused(
    change: dict[str, object], field: str, tmp_path: Path
) -> None:
    """A modifier is two letters or digits (SV101-3..6 ID 2/2); SV104 is R 1/15 and
    SV102/CLM02 R 1/18: pyx12 rejected the file the batcher had written."""
    claim = primary_claim()
    line = replace(claim.lines[0], **change)  # type: ignore[arg-type]
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(82), PROVIDER, [replace(claim, lines=(line, *claim.lines[1:]))])
    assert refused.value.field == field
    # The largest amounts that fit are written and validate.
    biggest = replace(claim.lines[0], units=10**15 - 1, charge_cents=10**17 - 1, modifiers=("FQ",))
    text = write_837p(envelope(83), PROVIDER, [replace(claim, lines=(biggest,))])
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_a_claim_total_that_overflows_clm02_is_refused() -> None:
    claim = primary_claim()
    line = replace(claim.lines[0], charge_cents=10**17 - 1)
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(84), PROVIDER, [replace(claim, lines=(line,) * 20)])
    assert refused.value.field == "total_cents"


def test_the_deductible_is_the_individual_one_not_the_familys_nor_an_amount_met() -> None:
    """Payers send several EB*C loops: the family deductible (EB02 FAM), the amount met
    year to date (EB06 24) and the lifetime remaining (33) are not the client's deductible;
    the first one in the file used to be shown as it."""
    answer = read_271(
        with_benefits(
            "EB*1**30**GOLD PLAN",
            "EB*C*FAM*30***23*3000*****Y",
            "EB*C*IND*30***24*300*****Y",
            "EB*C*IND*30***33*500*****Y",
            "EB*C*IND*30***23*1500*****Y",
            "EB*C*FAM*30***29*2800*****Y",
            "EB*C*IND*30***29*1200*****Y",
            "EB*B*FAM*30***27*50*****Y",
            "EB*B*IND*30***27*25*****Y",
        )
    )
    assert answer.deductible_cents == 150000
    assert answer.deductible_remaining_cents == 120000
    assert answer.copay_cents == 2500
    # A file with only the family level still says what it knows.
    family_only = read_271(with_benefits("EB*1**30", "EB*C*FAM*30***23*3000*****Y"))
    assert family_only.deductible_cents == 300000


async def test_an_older_271_replayed_after_a_newer_one_does_not_overwrite_the_coverage() -> None:
    """Two 270s (March, then April); the April 271 says inactive. The March 271 (active)
    arriving afterwards (a clearinghouse replaying its mailbox) put 'active' back on the
    coverage: the front desk would see a terminated plan as active."""
    coverage = {"_id": "cov-1", "client_id": "cl-1", "payer": "p-1", "member_id": "123456789"}
    inquiries = Memory(
        *[
            {
                **{k: coverage[k] for k in ("client_id", "payer", "member_id")},
                "_id": trace,
                "coverage_id": "cov-1",
                "on": on,
                "status": "sent",
                "created_at": datetime(2026, month, 2, 9, 0, tzinfo=UTC),
            }
            for trace, on, month in (("E1", "2026-03-02", 3), ("E2", "2026-04-02", 4))
        ]
    )
    coverages = Memory(coverage)
    payers = Memory({"_id": "p-1", "payer_id": "841610001", "name": "ABC COMPANY"})
    responses = EligibilityResponses(inquiries, coverages, payers)  # type: ignore[arg-type]
    caller = Caller(user_id="biller-1", tenant_id="agency-1")
    march = with_benefits("EB*1**30**GOLD PLAN").replace("TRN*2*E42", "TRN*2*E1")
    april = with_benefits("EB*6**30").replace("TRN*2*E42", "TRN*2*E2")
    await responses.post_271(caller, april.encode())
    assert coverages.docs["cov-1"]["eligibility"]["status"] == "inactive"
    _, shown = await responses.post_271(caller, march.encode())
    assert coverages.docs["cov-1"]["eligibility"]["status"] == "inactive"
    assert shown["eligibility"]["status"] == "inactive"
    # The March inquiry still keeps the answer it got.
    assert inquiries.docs["E1"]["answer"]["status"] == "active"
    # The same April 271 twice: still inactive, nothing else changes.
    await responses.post_271(caller, april.encode())
    assert coverages.docs["cov-1"]["eligibility"]["status"] == "inactive"


class _Upserting(Memory):
    async def update(
        self,
        tenant: str,
        query: dict[str, Any],
        change: dict[str, Any],
        *_: Any,
        upsert: bool = False,
        **__: Any,
    ) -> dict[str, Any] | None:
        done = await super().update(tenant, query, change)
        if done is None and upsert:
            plain = {k: v for k, v in query.items() if not isinstance(v, dict)}
            return await self.insert(tenant, {**plain, **change.get("$set", {})})
        return done


class _Runtime:
    """Hands Part2Holds one in-memory repository per repository class."""

    def __init__(self) -> None:
        self.repos: dict[type, Memory] = {}

    def repo(self, kind: type) -> Memory:
        return self.repos.setdefault(kind, _Upserting())


def _part2_consent(status: str, at: datetime) -> ConsentChanged:
    return ConsentChanged(
        consent_id="consent-1",
        client_id="cl-1",
        kind="part2",
        status=status,
        effective_at=at,
        recipient="ABC Health",
        purpose="payment",
    )


async def test_a_signed_event_arriving_after_the_revocation_does_not_revive_the_consent() -> None:
    """42 CFR 2.31(a)(5): a revoked consent stays revoked. The 'active' event redelivered
    (or relayed late) after the revocation made the consent active again and released the
    held Part 2 charge to the payer."""
    runtime = _Runtime()
    holds = Part2Holds(runtime)  # type: ignore[arg-type]
    runtime.repo(Payers).docs["p-1"] = {"_id": "p-1", "name": "ABC Health", "payer_id": "60054"}
    charges = runtime.repo(Charges)
    charges.docs["chg-1"] = {
        "_id": "chg-1",
        "kind": "charge",
        "client_id": "cl-1",
        "site_id": "site-1",
        "encounter_id": "enc-1",
        "payer": "p-1",
        "part2": True,
        "status": "held",
        "hold_reasons": [HOLD_REASON],
    }
    signed = _part2_consent("active", datetime(2026, 1, 5, tzinfo=UTC))
    await holds.consent_changed("agency-1", signed)
    assert charges.docs["chg-1"]["status"] == "open"
    await holds.consent_changed(
        "agency-1", _part2_consent("revoked", datetime(2026, 2, 1, tzinfo=UTC))
    )
    assert charges.docs["chg-1"]["status"] == "held"
    await holds.consent_changed("agency-1", signed)  # the old event again
    assert runtime.repo(Part2Consents).docs["consent-1"]["status"] == "revoked"
    assert charges.docs["chg-1"]["status"] == "held"
    assert charges.docs["chg-1"]["hold_reasons"] == [HOLD_REASON]


async def test_more_monitoring_lines_on_one_date_than_a_claim_holds_is_a_422_not_a_crash() -> None:
    """0820T with fifty 0822T staff on one date cannot be split (add-ons stay with their
    0820T): split_into_claims raised a bare ValueError, a 500 through the API."""
    on = date(2026, 11, 2)
    charges = [batch_charge(0, "0820T", on, ["F43.10"])]
    charges += [batch_charge(i, "0822T", on, ["F43.10"]) for i in range(1, 51)]
    batcher_repos, stores = batch_repos(charges)
    with pytest.raises(RuleViolation) as refused:
        await ClaimBatcher(batcher_repos, EVENTS).batch(BATCH_CALLER, "site-1", "acme")
    assert refused.value.extensions == {"field": "lines", "encounter_id": "enc-1"}
    assert all(store.writes == 0 for store in stores.values())


def test_a_diagnosis_listed_twice_is_refused_naming_the_field() -> None:
    """HI with the same ICD-10 code twice (F43.10 and F4310 are the same code) is a
    clearinghouse rejection; it was written."""
    claim = replace(primary_claim(), diagnoses=("F43.10", "f4310"))
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(85), PROVIDER, [claim])
    assert refused.value.field == "diagnoses"
    assert "F4310" in refused.value.problem


def test_only_one_second_professional_and_nobody_twice_in_monitoring() -> None:
    """0821T is the *second* physician/QHP concurrent with the first; there is no code for a
    third, and one person is not concurrent with themself. Two 'second' QHPs were both
    billed 0821T, and the first clinician listed again as second billed 0820T + 0821T."""
    dosing = therapy(
        kind="dosing",
        psychotherapy_minutes=None,
        clinicians=(
            Clinician("md-1", "prescriber", "1003000126", "first", 100),
            Clinician("md-2", "physician", "1003000134", "second", 480),
            Clinician("md-3", "psychologist", "1003000142", "second", 480),
            Clinician("rn-1", "nurse", "1003000159", "staff", 480),
            Clinician("rn-2", "nurse", "1003000167", "staff", 480),
            Clinician("rn-1", "nurse", "1003000159", "staff", 480),
        ),
    )
    coding = code_encounter(dosing)
    assert [(ln.cpt, ln.units, ln.rendering_staff_id) for ln in coding.lines] == [
        ("0820T", 2, "md-1"),
        ("0821T", 2, "md-2"),
        ("0822T", 2, "rn-1"),
        ("0822T", 2, "rn-2"),
    ]
    assert any("md-3" in note for note in coding.notes)
    twice = replace(
        dosing,
        clinicians=(
            Clinician("md-1", "prescriber", "1003000126", "first", 100),
            Clinician("md-1", "prescriber", "1003000126", "second", 100),
        ),
    )
    assert [ln.cpt for ln in code_encounter(twice).lines] == ["0820T"]


async def test_a_refused_secondary_claim_moves_no_counter() -> None:
    """A secondary claim the 837P cannot carry (13 diagnoses) is a 422; it used to take a
    claim number from the counter first, so the refusal wrote (and burned a number)."""
    diagnoses = [f"F4{i}.0" for i in range(10)] + ["F32.1", "F33.1", "F41.1"]
    charged = batch_charge(0, "90837", date(2026, 11, 2), diagnoses)
    charged.update(status="claimed", claim_id="clm-1")
    batcher_repos, stores = batch_repos([charged])
    stores["claims"].docs["clm-1"] = {
        "_id": "clm-1",
        "claim_number": "H000000001",
        "sequence": "P",
        "status": "paid",
        "client_id": "cl-1",
        "site_id": "site-1",
        "payer": "acme",
        "coverage_id": "cov-1",
        "service_date": "2026-11-02",
        "charge_ids": ["chg-00"],
        "paid_cents": 5000,
        "adjudicated_on": "2026-11-20",
        "line_adjudications": [],
    }
    stores["coverages"].docs["cov-1"]["rank"] = "primary"
    stores["coverages"].docs["cov-1"]["starts_on"] = "2026-01-01"
    stores["coverages"].docs["cov-2"] = {
        **stores["coverages"].docs["cov-1"],
        "_id": "cov-2",
        "payer": "beta",
        "rank": "secondary",
        "member_id": "S99",
    }
    stores["payers"].docs["beta"] = {
        "_id": "beta",
        "name": "Beta Health",
        "payer_id": "77777",
        "claim_filing_indicator": "CI",
    }
    before = {name: store.writes for name, store in stores.items()}
    with pytest.raises(RuleViolation) as refused:
        await ClaimBatcher(batcher_repos, EVENTS).secondary(BATCH_CALLER, "clm-1")
    assert refused.value.extensions["field"] == "diagnoses"
    assert {name: store.writes for name, store in stores.items()} == before


class _EndlessUpload:
    """A request whose body never ends (a hostile or runaway upload)."""

    def __init__(self) -> None:
        self.read = 0
        self.headers: dict[str, str] = {}

    async def stream(self) -> AsyncIterator[bytes]:
        while True:
            self.read += 64 * 1024
            yield b"x" * (64 * 1024)


async def test_a_271_upload_is_limited_while_it_is_read_not_after() -> None:
    """POST /eligibility-responses read the whole body into memory before checking its
    size: an endless upload grew memory without bound."""
    upload = _EndlessUpload()
    with pytest.raises(RuleViolation, match="1 MB"):
        await read_271_body(upload)  # type: ignore[arg-type]
    assert upload.read <= MAX_271_BYTES + 64 * 1024
    declared = _EndlessUpload()
    declared.headers["content-length"] = str(50 * MAX_271_BYTES)
    with pytest.raises(RuleViolation, match="1 MB"):
        await read_271_body(declared)  # type: ignore[arg-type]
    assert declared.read == 0


def test_a_negative_copay_or_deductible_in_a_271_is_refused_naming_the_segment() -> None:
    """EB07 is what the client pays (copay, deductible): a negative amount was read and
    shown at the front desk as a copay of -$30.00."""
    with pytest.raises(X12Error, match="EB07") as refused:
        read_271(with_benefits("EB*1**30", "EB*B*IND*30***27*-30*****Y"))
    assert refused.value.segment == "EB"
