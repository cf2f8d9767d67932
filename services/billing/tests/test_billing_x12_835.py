"""Reading the sample 835s (005010X221A1) strictly; refusing what cannot be posted whole."""

from __future__ import annotations

import pytest
from halcyon.billing.domain.posting import ClaimRef, plan_posting
from halcyon.billing.domain.remittance import read_835
from halcyon.billing.domain.x12 import X12Error

from services.billing.tests.x12_835_support import (
    REFUSED_AS_IS,
    interchange,
    repaired,
    sample,
)


def test_managed_care_two_partly_paid_claims_with_deductible_and_contractual() -> None:
    remittance = read_835(sample("tr3-managed-care-2-claims-co45-pr1.835"))
    [tx] = remittance.transactions
    assert tx.payment_cents == 94500
    assert tx.trace_number == "7170066655"
    assert tx.balances
    first, second = tx.claims
    assert (first.charge_cents, first.paid_cents, first.patient_responsibility_cents) == (
        80000,
        45000,
        30000,
    )
    assert ("CO", "A2", 5000) in [(a.group, a.reason, a.amount_cents) for a in first.adjustments]
    assert {("PR", "1"), ("CO", "45")} <= {(a.group, a.reason) for a in second.all_adjustments}
    assert not first.is_denial
    assert not second.is_denial


def test_medicare_part_a_provider_level_adjustment_balances_the_check() -> None:
    [tx] = read_835(sample("tr3-medicare-part-a-2-claims-plb.835")).transactions
    [plb] = tx.provider_adjustments
    assert (plb.reason, plb.reference, plb.amount_cents) == ("CV", "CP", -127)
    assert sum(c.paid_cents for c in tx.claims) - plb.amount_cents == tx.payment_cents == 15000000
    assert tx.claims[1].remarks == ("MA02",)


def test_denied_claim_with_carcs_and_rarcs() -> None:
    [tx] = read_835(sample("pyx12-denied-claim-co16-oa-a7.835")).transactions
    [claim] = tx.claims
    assert claim.status == "4"
    assert claim.is_denial
    assert claim.paid_cents == 0
    assert claim.denial_codes == ["CO-16", "OA-A7"]
    assert [s.remarks for s in claim.services] == [("N14",), ("N14",), ("N14",)]


def test_one_line_file_paid_denied_and_partly_paid() -> None:
    [tx] = read_835(sample("emedny-3-claims-paid-denied-partial.835")).transactions
    paid, denied, partial = tx.claims
    assert paid.paid_cents == 3425
    assert not paid.is_denial
    assert paid.all_adjustments == ()
    assert [s.modifiers for s in paid.services][:3] == [("RB",), ("RB",), ("RB",)]
    assert denied.is_denial
    assert denied.denial_codes == ["CO-29"]
    assert partial.paid_cents == 1150
    assert not partial.is_denial
    assert partial.services[2].remarks == ("N206",)
    # Three claims share CLP01, told apart by the payer claim number (CLP07).
    assert len({c.payer_claim_number for c in tx.claims}) == 3


@pytest.mark.parametrize("name", sorted(REFUSED_AS_IS))
def test_samples_with_a_broken_envelope_are_refused_naming_the_segment(name: str) -> None:
    segment, words = REFUSED_AS_IS[name]
    with pytest.raises(X12Error) as caught:
        read_835(sample(name))
    assert caught.value.segment == segment
    assert words in str(caught.value)


def test_file_without_envelope_read_once_enveloped() -> None:
    remittance = read_835(repaired("bcbsnc-st-only-1-claim-co42-pr2-pr3.835"))
    # Its third SVC has its amounts in the wrong elements: read as 0, said so.
    assert remittance.warnings == ["SVC #30 has no SVC02 charge: read as 0"]
    [tx] = remittance.transactions
    [claim] = tx.claims
    assert claim.patient_responsibility_cents == 14254
    groups = {(a.group, a.reason, a.amount_cents) for a in claim.all_adjustments}
    assert {("CO", "42", 3460), ("PR", "2", 11754), ("PR", "3", 2500)} <= groups


def test_three_transactions_and_plb_only() -> None:
    remittance = read_835(repaired("nevada-medicaid-3-st-denied-plb-only.835"))
    first, second, third = remittance.transactions
    assert [c.is_denial for c in first.claims + second.claims] == [True, True, True]
    assert third.claims == ()
    assert sum(p.amount_cents for p in third.provider_adjustments) == -181227
    assert third.payment_cents == 181227
    assert third.balances


def test_components_in_a_separator_other_than_isa16_are_read_with_a_warning() -> None:
    remittance = read_835(sample("tr3-secondary-payment-oa23-pr1-pr2-co42.835"))
    assert any("'>'" in w for w in remittance.warnings)
    claim = remittance.transactions[0].claims[1]
    assert [(s.procedure, s.modifiers, s.paid_cents) for s in claim.services] == [
        ("12345", ("26",), 3000),
        ("66543", ("26",), 28000),
    ]
    # One CAS carrying two PR reasons: both are read.
    reasons = [(a.group, a.reason) for a in claim.all_adjustments]
    assert ("PR", "1") in reasons
    assert ("PR", "2") in reasons
    assert ("CO", "42") in reasons


def test_dental_nine_claims_with_the_same_number_get_distinct_payment_ids() -> None:
    remittance = read_835(repaired("x12org-dental-9-claims-single-check-co45-pr3.835"))
    [tx] = remittance.transactions
    assert len(tx.claims) == 9
    assert tx.balances
    plan = plan_posting("agency-1", remittance, {})
    assert len({p.payment_id for p in plan.claims}) == 9
    assert all(p.work_item == "unmatched" for p in plan.claims)


def test_posting_plan_matches_claims_by_clp01_and_routes_denials() -> None:
    remittance = read_835(sample("pyx12-denied-claim-co16-oa-a7.835"))
    ref = ClaimRef("claim-1", "client-1", "payer-1")
    plan = plan_posting("agency-1", remittance, {"2005555A": ref})
    [posting] = plan.claims
    assert posting.claim == ref
    assert posting.claim_status == "denied"
    assert posting.work_item == "denial"


def test_payment_ids_are_stable_across_reads() -> None:
    raw = sample("tr3-managed-care-2-claims-co45-pr1.835")
    first = [p.payment_id for p in plan_posting("agency-1", read_835(raw), {}).claims]
    again = [p.payment_id for p in plan_posting("agency-1", read_835(raw), {}).claims]
    assert first == again
    assert len(set(first)) == 2


@pytest.mark.parametrize(
    ("text", "segment", "words"),
    [
        (b"HELLO WORLD", "HEL", "starts with a 106-character ISA"),
        (b"ISA*00*x~", "ISA", "ends inside the ISA"),
        (interchange(["BPR*I*abc*C*CHK", "TRN*1*9*1"]), "BPR", "BPR02 is not an X12 decimal"),
        (interchange(["TRN*1*9*1"]), "BPR", "no BPR"),
        (interchange(["BPR*I*10*C*CHK"]), "TRN", "no TRN02"),
        (interchange(["BPR*I*10*C*CHK", "TRN*1*9*1", "CLP*A1*1*ten*10"]), "CLP", "CLP03"),
        (
            interchange(["BPR*I*10*C*CHK", "TRN*1*9*1", "CLP*A1*1*10*10", "CAS*CO*45"]),
            "CAS",
            "CAS03",
        ),
        (
            interchange(["BPR*I*10*C*CHK", "TRN*1*9*1", "CLP*A1*1*10*10", "CAS*XX*45*1"]),
            "CAS",
            "not a group code",
        ),
        (
            interchange(["BPR*I*10*C*CHK", "TRN*1*9*1", "SVC*HC:90837*10*10"]),
            "SVC",
            "outside a claim",
        ),
        (interchange([]).replace(b"ST*835", b"ST*837"), "ST", "not 835"),
        (interchange([]).replace(b"GS*HP", b"GS*HC"), "GS", "not HP"),
        (
            interchange(["BPR*I*0*C*NON", "TRN*1*9*1", "PLB*1*20261231*WO"]),
            "PLB",
            "PLB04",
        ),
    ],
)
def test_what_cannot_be_understood_is_refused_naming_the_segment(
    text: bytes, segment: str, words: str
) -> None:
    with pytest.raises(X12Error) as caught:
        read_835(text)
    assert caught.value.segment == segment
    assert f"segment {segment}" in str(caught.value)
    assert words in str(caught.value)
