"""837P 005010X222A1: every generated file passes pyx12's x12valid; envelopes and totals hold."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from halcyon.billing.domain.claim837 import (
    Address,
    Adjudication,
    BillingProvider,
    Claim,
    DrugIdentification,
    Envelope,
    OtherPayer,
    Party,
    ServiceLine,
    write_837p,
)
from halcyon.billing.domain.x12 import Separators, format_amount

from services.billing.tests.x12_validation import x12valid

ADDRESS = Address("1 MAIN ST", "PORTLAND", "OR", "972011234")
PROVIDER = BillingProvider("HALCYON CLINIC", "1234567893", "123456789", ADDRESS)
SUBSCRIBER = Party(
    "DOE", "M123", given_name="JANE", address=ADDRESS, date_of_birth=date(1980, 1, 2), sex="F"
)
CHILD = Party(
    "DOE", "", given_name="JOHN", address=ADDRESS, date_of_birth=date(2010, 1, 2), sex="M"
)
PRIMARY_PAYER = Party("ACME HEALTH", "60054")
SECONDARY_PAYER = Party("OTHER HEALTH", "99999")
THERAPIST = Party("SMITH", "1245319599", given_name="ANN")
PRESCRIBER = Party("ROE", "1003000126", given_name="BOB")
DOS = date(2026, 11, 2)


def primary_claim(number: str = "HC0000001") -> Claim:
    return Claim(
        claim_number=number,
        sequence="P",
        relationship="18",
        filing_indicator="CI",
        subscriber=SUBSCRIBER,
        patient=SUBSCRIBER,
        payer=PRIMARY_PAYER,
        place_of_service="11",
        diagnoses=("F43.10", "F32.1"),
        rendering=PRESCRIBER,
        group_number="G1",
        lines=(
            ServiceLine("0820T", (), 160000, 8, DOS, (1, 2), control_number="L1"),
            ServiceLine("0821T", (), 120000, 8, DOS, (1,), rendering=THERAPIST),
            ServiceLine("0822T", (), 80000, 8, DOS, (1,)),
            ServiceLine("90837", ("95",), 25000, 1, DOS, (1, 2), place_of_service="10"),
        ),
    )


def secondary_claim() -> Claim:
    prior = Adjudication(
        "60054", 10000, (("CO", "45", 5000), ("PR", "1", 2500)), date(2026, 11, 20)
    )
    return Claim(
        claim_number="HC0000002",
        sequence="S",
        relationship="19",
        filing_indicator="CI",
        subscriber=SUBSCRIBER,
        patient=CHILD,
        payer=SECONDARY_PAYER,
        place_of_service="11",
        diagnoses=("F43.10",),
        rendering=THERAPIST,
        lines=(ServiceLine("90834", (), 17500, 1, DOS, (1,), prior=prior),),
        other_payers=(
            OtherPayer(
                sequence="P",
                relationship="19",
                filing_indicator="CI",
                subscriber=SUBSCRIBER,
                payer=PRIMARY_PAYER,
                paid_cents=10000,
                claim_adjustments=(),
                patient_responsibility_cents=2500,
            ),
        ),
    )


def envelope(control: int) -> Envelope:
    return Envelope("HALCYONSUB", "RECV01", control, datetime(2026, 11, 27, 15, 0, tzinfo=UTC))


def segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def test_primary_and_secondary_claims_pass_x12valid(tmp_path: Path) -> None:
    text = write_837p(envelope(42), PROVIDER, [primary_claim(), secondary_claim()])
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_secondary_claim_carries_the_primary_adjudication() -> None:
    text = write_837p(envelope(43), PROVIDER, [secondary_claim()])
    tags = [s[0] for s in segments(text)]
    # 2320 SBR + AMT*D + OI, 2330A/B NM1*IL/PR, then 2430 SVD, CAS, DTP*573 on the line.
    assert "OI" in tags
    assert "SVD" in tags
    assert ["AMT", "D", "100"] in segments(text)
    assert ["SVD", "60054", "100", "HC:90834", "", "1"] in segments(text)
    assert ["DTP", "573", "D8", "20261120"] in segments(text)


def test_envelope_counts_and_control_numbers_agree() -> None:
    text = write_837p(envelope(7), PROVIDER, [primary_claim(), secondary_claim()])
    segs = segments(text)
    st = next(i for i, s in enumerate(segs) if s[0] == "ST")
    se = next(i for i, s in enumerate(segs) if s[0] == "SE")
    assert int(segs[se][1]) == se - st + 1  # SE01 counts ST through SE
    assert segs[se][2] == segs[st][2]
    isa, gs = segs[0], segs[1]
    assert isa[13] == "000000007"
    assert segs[-1] == ["IEA", "1", "000000007"]
    assert gs[6] == "7"
    assert segs[-2] == ["GE", "1", "7"]
    assert len("*".join(isa)) == 105  # fixed-width ISA (106 with the terminator)


def test_claim_total_is_the_sum_of_its_lines() -> None:
    claim = primary_claim()
    segs = segments(write_837p(envelope(8), PROVIDER, [claim]))
    clm = next(s for s in segs if s[0] == "CLM")
    lines = [s for s in segs if s[0] == "SV1"]
    assert clm[2] == format_amount(sum(line.charge_cents for line in claim.lines)) == "3850"
    assert sum(int(float(s[2]) * 100) for s in lines) == 385000
    assert [s[7] for s in lines] == ["1:2", "1", "1", "1:2"]  # diagnosis pointers
    hi = next(s for s in segs if s[0] == "HI")
    assert hi[1:] == ["ABK:F4310", "ABF:F321"]


def test_rendering_provider_loops() -> None:
    segs = segments(write_837p(envelope(9), PROVIDER, [primary_claim()]))
    renderings = [s for s in segs if s[:2] == ["NM1", "82"]]
    assert renderings[0][-1] == "1003000126"  # 2310B claim level
    assert renderings[1][-1] == "1245319599"  # 2420A for the 0821T line
    billing = next(s for s in segs if s[:2] == ["NM1", "85"])
    assert billing[-2:] == ["XX", "1234567893"]


def test_telehealth_line_keeps_modifier_95_and_its_own_place_of_service() -> None:
    segs = segments(write_837p(envelope(10), PROVIDER, [primary_claim()]))
    sv1 = [s for s in segs if s[0] == "SV1"][-1]
    assert sv1[1] == "HC:90837:95"
    assert sv1[5] == "10"


def test_other_component_separator_also_validates(tmp_path: Path) -> None:
    text = write_837p(envelope(11), PROVIDER, [primary_claim()], Separators(component=">"))
    assert "HC>90837>95" in text
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_values_containing_a_separator_are_refused() -> None:
    with pytest.raises(ValueError, match="separator"):
        write_837p(envelope(12), PROVIDER, [primary_claim("BAD*1")])


def test_a_broken_file_is_caught_by_the_validator(tmp_path: Path) -> None:
    """The validation helper is not a rubber stamp: a wrong SE count fails."""
    text = write_837p(envelope(13), PROVIDER, [primary_claim()])
    broken = re.sub(r"SE\*\d+\*", "SE*3*", text)
    ok, _ = x12valid(broken, tmp_path)
    assert not ok


def spravato_claim() -> Claim:
    """A dosing visit's drug line: esketamine 84 mg as 84 units of S0013, with its NDC."""
    drug = DrugIdentification("50458002803", Decimal("84.0"))
    return replace(
        primary_claim("HC0000009"),
        lines=(
            ServiceLine("S0013", (), 84 * 2500, 84, DOS, (1,), control_number="D1", drug=drug),
            ServiceLine("90837", (), 25000, 1, DOS, (1,)),
        ),
    )


def test_a_drug_line_names_its_ndc_and_milligrams_and_passes_x12valid(tmp_path: Path) -> None:
    text = write_837p(envelope(14), PROVIDER, [spravato_claim()])
    ok, output = x12valid(text, tmp_path)
    assert ok, output
    segs = segments(text)
    sv1 = next(i for i, s in enumerate(segs) if s[0] == "SV1" and s[1] == "HC:S0013")
    assert segs[sv1][2:5] == ["2100", "UN", "84"]
    # 2410 after the line's DTP and REF*6R, before the next LX.
    assert segs[sv1 + 1][:2] == ["DTP", "472"]
    assert segs[sv1 + 2] == ["REF", "6R", "D1"]
    assert segs[sv1 + 3] == ["LIN", "", "N4", "50458002803"]
    assert segs[sv1 + 4] == ["CTP", "", "", "", "84", "ME"]
    assert segs[sv1 + 5][0] == "LX"
    # Only the drug line carries drug identification.
    assert [s[0] for s in segs].count("LIN") == 1


def test_a_fractional_quantity_is_written_without_trailing_zeros() -> None:
    drug = DrugIdentification("50458002802", Decimal("27.50"))
    claim = replace(
        spravato_claim(), lines=(ServiceLine("S0013", (), 700, 28, DOS, (1,), drug=drug),)
    )
    assert ["CTP", "", "", "", "27.5", "ME"] in segments(
        write_837p(envelope(15), PROVIDER, [claim])
    )
