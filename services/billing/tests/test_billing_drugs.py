"""Buy and bill: which dispensed doses earn a drug-supply charge, in how many units."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from halcyon.billing.domain.drugs import (
    DrugLine,
    NotBilled,
    dispensed_mg,
    dosing_visit_id,
    drug_charge_id,
    drug_line_for,
    ndc11,
    service_date_of,
)
from halcyon.billing.domain.payers import fee_for

SPRAVATO_56 = "prod-spravato-56"
S0013_FEE = [{"_id": "f1", "cpt": "S0013", "rate_cents": 2500, "starts_on": "2026-01-01"}]


def test_56_mg_of_esketamine_is_56_units_of_s0013_priced_per_unit() -> None:
    line = drug_line_for("esketamine", SPRAVATO_56, Decimal("56.0"))
    assert isinstance(line, DrugLine)
    assert (line.hcpcs, line.units, line.quantity_mg) == ("S0013", 56, Decimal(56))
    fee = fee_for(S0013_FEE, line.hcpcs, (), date(2026, 11, 2))
    assert fee is not None
    assert fee.rate_cents * line.units == 56 * 2500


def test_84_mg_is_84_units_and_a_partial_unit_rounds_up() -> None:
    assert drug_line_for("Esketamine", SPRAVATO_56, Decimal("84.0")) == DrugLine(
        "S0013", 84, Decimal(84), None
    )
    partial = drug_line_for("esketamine", SPRAVATO_56, Decimal("27.5"))
    assert isinstance(partial, DrugLine)
    assert partial.units == 28


@pytest.mark.parametrize("substance", ["mdma", "psilocybin", "MDMA"])
def test_sponsor_supplied_investigational_drugs_are_not_billed(substance: str) -> None:
    result = drug_line_for(substance, "prod-1", Decimal("120.0"))
    assert isinstance(result, NotBilled)
    assert "study sponsor" in result.reason


def test_an_unknown_substance_bills_nothing_and_says_why() -> None:
    result = drug_line_for("ketamine", "prod-1", Decimal("50.0"))
    assert result == NotBilled("no drug code configured for 'ketamine': not billed")


def test_the_agency_configuration_overrides_the_defaults_and_carries_the_ndc() -> None:
    configured = [
        {
            "substance": "esketamine",
            "billable": True,
            "hcpcs": "S0013",
            "mg_per_unit": 1,
            "products": [{"product_id": SPRAVATO_56, "ndc": "50458-028-02"}],
        },
        # A substance the defaults do not know, per 10 mg; and a default turned off.
        {"substance": "ketamine", "billable": True, "hcpcs": "J3490", "mg_per_unit": 10},
        {"substance": "psilocybin", "billable": False, "not_billed_reason": "compassionate use"},
    ]
    line = drug_line_for("esketamine", SPRAVATO_56, Decimal("56"), configured)
    assert line == DrugLine("S0013", 56, Decimal(56), "50458002802")
    # Another esketamine product the agency gave no NDC for: still billed, no NDC.
    other = drug_line_for("esketamine", "prod-other", Decimal("56"), configured)
    assert isinstance(other, DrugLine)
    assert other.ndc is None
    ketamine = drug_line_for("ketamine", "prod-k", Decimal("35"), configured)
    assert isinstance(ketamine, DrugLine)
    assert (ketamine.hcpcs, ketamine.units) == ("J3490", 4)
    psilocybin = drug_line_for("psilocybin", "p", Decimal("25"), configured)
    assert psilocybin == NotBilled("compassionate use")
    # An NDC the producer sends wins over the configured one.
    sent = drug_line_for(
        "esketamine", SPRAVATO_56, Decimal("56"), configured, product_ndc="50458-028-03"
    )
    assert isinstance(sent, DrugLine)
    assert sent.ndc == "50458002803"


def test_a_zero_dose_bills_nothing() -> None:
    assert isinstance(drug_line_for("esketamine", SPRAVATO_56, Decimal("0")), NotBilled)


@pytest.mark.parametrize(
    ("label", "eleven"),
    [
        ("50458-028-02", "50458002802"),  # 5-3-2
        ("0777-3105-02", "00777310502"),  # 4-4-2
        ("12345-6789-1", "12345678901"),  # 5-4-1
        ("50458-0028-02", "50458002802"),  # already 5-4-2
        ("50458002802", "50458002802"),
    ],
)
def test_ndc_becomes_the_11_digits_of_lin_n4(label: str, eleven: str) -> None:
    assert ndc11(label) == eleven


@pytest.mark.parametrize("bad", ["5045802802", "50458-28-02", "abc", "50458-0028-021"])
def test_what_is_not_an_ndc_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an NDC"):
        ndc11(bad)


def test_ids_one_charge_per_dose_on_the_dosing_visit() -> None:
    assert drug_charge_id("led-1") == "chg:dose:led-1"
    assert dosing_visit_id("appt-1", "led-1") == "appt-1"
    assert dosing_visit_id(None, "led-1") == "led-1"


def test_the_date_of_service_is_the_sites_day() -> None:
    evening_in_denver = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)
    assert service_date_of(evening_in_denver, "America/Denver") == date(2026, 11, 2)
    assert service_date_of(evening_in_denver, None) == date(2026, 11, 3)
    assert service_date_of(evening_in_denver, "Not/AZone") == date(2026, 11, 3)


def test_the_dispensed_dose_is_read_exactly_from_inventorys_micrograms() -> None:
    """ADR 0502: inventory sends exact micrograms beside the float of older consumers."""
    assert dispensed_mg(62_500, 62.5) == Decimal("62.5")
    assert dispensed_mg(100, 0.1) == Decimal("0.1")
    assert dispensed_mg(None, 0.1) == Decimal("0.1")  # an event from before the change
