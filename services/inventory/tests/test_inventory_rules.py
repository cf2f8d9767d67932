"""Unit tests of the pure rules: each regulation the issue cites fails here if broken."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from halcyon.inventory.domain import dosing, rules
from halcyon.inventory.domain.deadlines import (
    biennial_alert_needed,
    biennial_due,
    next_business_day,
    theft_loss_deadlines,
    within_retention,
)
from halcyon.inventory.domain.models import DispenseIn, RegistrationIn
from halcyon.inventory.domain.quantities import mg_to_ug
from halcyon.inventory.domain.substances import (
    covers,
    normalise_schedule,
    registration_covers,
    route_of,
)
from halcyon.shared.contracts.partner import DoseAmount
from halcyon.shared.errors import Forbidden, RuleViolation
from pydantic import ValidationError

TODAY = date(2026, 11, 27)  # a Friday
MDMA = dosing.PROTOCOLS["mdma-ptsd"]


def test_schedules_normalise_and_non_narcotic_suffix_counts_as_the_schedule() -> None:
    assert normalise_schedule("iin") == "II"
    assert covers(["IIN", "III"], "II")
    assert not covers(["III", "IV"], "II")
    with pytest.raises(ValueError, match="not a controlled-substance schedule"):
        normalise_schedule("VI")


def test_schedule_i_needs_researcher_registration_for_the_protocol() -> None:
    """21 CFR 1301.18."""
    practitioner = {
        "dea_number": "AB1234567",
        "schedules": ["I", "II"],
        "kind": "practitioner",
        "expires_on": "2030-01-01",
    }
    with pytest.raises(RuleViolation, match="researcher registration"):
        registration_covers(practitioner, "I", TODAY)
    researcher = {**practitioner, "kind": "researcher", "protocol_id": "mdma-ptsd"}
    registration_covers(researcher, "I", TODAY, protocol_id="mdma-ptsd")
    with pytest.raises(RuleViolation, match="protocol"):
        registration_covers(researcher, "I", TODAY, protocol_id="psilocybin-trd")


@pytest.mark.parametrize(
    ("form", "route"),
    [
        ("capsule", "oral"),
        ("Film-coated tablet", "oral"),
        ("nasal spray device", "intranasal"),
        ("sublingual troche", "sublingual"),
        ("solution for injection", None),  # IV or IM: not reported as either
        ("powder", None),
    ],
)
def test_the_registry_route_comes_from_the_dosage_form_or_is_not_guessed(
    form: str, route: str | None
) -> None:
    assert route_of(form) == route


def test_registry_dose_amounts_are_exact_decimal_strings() -> None:
    assert DoseAmount.milligrams(Decimal("120.0")).amount == "120"
    assert DoseAmount.milligrams("62.5").amount == "62.5"
    assert DoseAmount.milligrams(Decimal("1E-7")).amount == "0.0000001"  # never "1E-7"


def test_registration_must_cover_schedule_and_be_current() -> None:
    """21 CFR 1301.13."""
    registration = {"dea_number": "AB1234567", "schedules": ["III"], "expires_on": "2026-11-26"}
    with pytest.raises(RuleViolation, match="does not cover"):
        registration_covers(registration, "II", TODAY)
    with pytest.raises(RuleViolation, match="expired"):
        registration_covers(registration, "III", TODAY)


def test_registration_body_refuses_unknown_schedule_and_bad_dea_number() -> None:
    base = {
        "site_id": "s",
        "dea_number": "AB1234567",
        "registrant_name": "R",
        "schedules": ["II"],
        "expires_on": "2030-01-01",
    }
    assert RegistrationIn.model_validate(base).schedules == ["II"]
    with pytest.raises(ValidationError):
        RegistrationIn.model_validate({**base, "schedules": ["VII"]})
    with pytest.raises(ValidationError):
        RegistrationIn.model_validate({**base, "dea_number": "12"})


def test_order_form_required_for_schedule_i_and_ii_only() -> None:
    """21 CFR 1305.03."""
    for schedule in ("I", "II"):
        with pytest.raises(RuleViolation, match="Form 222"):
            rules.require_order_form(schedule, None)
        with pytest.raises(RuleViolation):
            rules.require_order_form(schedule, "  ")
        rules.require_order_form(schedule, "222-123456")
    rules.require_order_form("III", None)


def test_expired_lot_cannot_be_dispensed() -> None:
    """21 CFR 1317.05."""
    lot = {"_id": "l", "lot_number": "X1", "expires_on": "2026-11-26"}
    with pytest.raises(RuleViolation, match="expired"):
        rules.require_unexpired_lot(lot, TODAY)
    rules.require_unexpired_lot({**lot, "expires_on": "2026-11-27"}, TODAY)


@pytest.mark.parametrize(
    "witnesses",
    [["w1"], ["w1", "w1"], ["w1", "nurse"], ["nurse", "w2"], []],
)
def test_waste_needs_two_distinct_witnesses_other_than_the_waster(witnesses: list[str]) -> None:
    """21 CFR 1317.95(d)."""
    with pytest.raises(RuleViolation, match="witness"):
        rules.require_two_witnesses("nurse", witnesses, "waste")


def test_two_distinct_other_witnesses_are_enough() -> None:
    rules.require_two_witnesses("nurse", ["w1", "w2"], "waste")


def test_only_a_compliance_officer_adjusts() -> None:
    with pytest.raises(Forbidden):
        rules.require_adjusting_role({"nurse", "agency_admin"})
    rules.require_adjusting_role({"compliance_officer"})


def test_prescriber_needs_an_active_dea_registration_for_the_schedule() -> None:
    """21 CFR 1306.03."""
    lapsed = {
        "_id": "p",
        "dea_registrations": [
            {"number": "AB1", "schedules": ["I", "II"], "expires_on": "2026-11-26"}
        ],
    }
    with pytest.raises(RuleViolation, match="no active DEA"):
        rules.require_active_prescriber(lapsed, "I", TODAY)
    narrow = {
        "_id": "p",
        "dea_registrations": [{"number": "AB1", "schedules": ["III"], "expires_on": "2030-01-01"}],
    }
    with pytest.raises(RuleViolation, match="does not cover"):
        rules.require_active_prescriber(narrow, "I", TODAY)
    with pytest.raises(RuleViolation):
        rules.require_active_prescriber(None, "I", TODAY)
    rules.require_active_prescriber(
        {
            "_id": "p",
            "dea_registrations": [
                {"number": "AB1", "schedules": ["I"], "expires_on": "2026-11-27"}
            ],
        },
        "I",
        TODAY,
    )


def test_schedule_i_and_ii_counts_are_exact() -> None:
    """21 CFR 1304.11(e)(3)."""
    with pytest.raises(RuleViolation, match="exactly"):
        rules.require_exact_count("II", estimated=True)
    rules.require_exact_count("IV", estimated=True, units_per_container=1000)
    with pytest.raises(RuleViolation, match="more than 1000"):
        rules.require_exact_count("IV", estimated=True, units_per_container=1001)


@pytest.mark.parametrize("mg", ["80", "120", "120.000"])
def test_mdma_initial_dose_is_80_or_120(mg: str) -> None:
    dosing.check_initial_dose(MDMA, mg_to_ug(mg))


@pytest.mark.parametrize("mg", ["40", "60", "100", "125", "160", "119.999", "80.001"])
def test_mdma_initial_dose_outside_the_protocol_is_refused(mg: str) -> None:
    with pytest.raises(RuleViolation, match="outside protocol"):
        dosing.check_initial_dose(MDMA, mg_to_ug(mg))


def test_mdma_supplemental_is_half_the_initial_90_to_150_minutes_later() -> None:
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    initial = dosing.GivenDose(120_000, start)
    dosing.check_supplemental_dose(MDMA, initial, 60_000, start + timedelta(minutes=90))
    dosing.check_supplemental_dose(MDMA, initial, 60_000, start + timedelta(minutes=150))
    with pytest.raises(RuleViolation, match="half"):
        dosing.check_supplemental_dose(MDMA, initial, 40_000, start + timedelta(minutes=100))
    with pytest.raises(RuleViolation, match=r"60 mg, not 60\.001 mg"):
        dosing.check_supplemental_dose(MDMA, initial, 60_001, start + timedelta(minutes=100))
    with pytest.raises(RuleViolation, match="90-150"):
        dosing.check_supplemental_dose(MDMA, initial, 60_000, start + timedelta(minutes=89))
    with pytest.raises(RuleViolation, match="90-150"):
        dosing.check_supplemental_dose(MDMA, initial, 60_000, start + timedelta(minutes=151))


def test_fixed_dose_protocols_have_no_supplemental_and_substance_must_match() -> None:
    psilocybin = dosing.protocol_for("psilocybin-trd", "Psilocybin")
    with pytest.raises(RuleViolation, match="no supplemental"):
        dosing.check_supplemental_dose(
            psilocybin, dosing.GivenDose(25_000, datetime.now(UTC)), 12_500, datetime.now(UTC)
        )
    with pytest.raises(RuleViolation, match="doses MDMA"):
        dosing.protocol_for("mdma-ptsd", "psilocybin")
    with pytest.raises(RuleViolation, match="no dose rules"):
        dosing.protocol_for(None, "MDMA")


def test_dispense_time_must_carry_a_zone() -> None:
    body = {
        "appointment_id": "a",
        "lot_id": "l",
        "location_id": "x",
        "quantity_mg": 80,
        "administered_by": "n",
        "witness_id": "w",
        "prescriber_id": "p",
    }
    with pytest.raises(ValidationError):
        DispenseIn.model_validate({**body, "administered_at": "2026-11-27T10:00:00"})
    with pytest.raises(ValidationError):
        DispenseIn.model_validate({**body, "quantity_mg": -80})


def test_theft_or_loss_deadlines_one_business_day_and_45_days() -> None:
    """21 CFR 1301.76(b)."""
    friday = date(2026, 11, 27)
    assert next_business_day(friday) == date(2026, 11, 30)  # Monday
    assert next_business_day(date(2026, 11, 24)) == date(2026, 11, 25)
    assert theft_loss_deadlines(friday) == {
        "dea_theft_loss_notice": date(2026, 11, 30),
        "dea_form_106": date(2027, 1, 11),
    }


def test_biennial_inventory_due_two_years_on_alert_within_a_month() -> None:
    """21 CFR 1304.11(c)."""
    last = date(2024, 12, 20)
    assert biennial_due(last) == date(2026, 12, 20)
    assert biennial_alert_needed(last, date(2026, 11, 27))
    assert not biennial_alert_needed(last, date(2026, 10, 1))


def test_records_younger_than_two_years_are_retained() -> None:
    """21 CFR 1304.04(a)."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert within_retention(now - timedelta(days=729), now)
    assert not within_retention(now - timedelta(days=731), now)
