"""CPT rules at their boundaries (CPT 2024 psychotherapy time rules; Category III 0820T-0822T)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from halcyon.billing.domain.charges import ActiveCharge, charge_id, plan_capture, stored_facts
from halcyon.billing.domain.coding import (
    Clinician,
    EncounterFacts,
    add_ons_have_primary,
    code_encounter,
    monitoring_units,
)

SIGNED = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
THERAPIST = Clinician("st-1", "therapist", npi="1245319599")


def encounter(**changes: object) -> EncounterFacts:
    base = EncounterFacts(
        encounter_id="enc-1",
        client_id="cl-1",
        site_id="site-1",
        kind="psychotherapy",
        service_date=date(2026, 11, 2),
        clinicians=(THERAPIST,),
        diagnoses=("F43.10", "F32.1"),
        place_of_service="11",
        signed_at=SIGNED,
        psychotherapy_minutes=45,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(facts: EncounterFacts) -> list[tuple[str, int]]:
    return [(line.cpt, line.units) for line in code_encounter(facts).lines]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, []),
        (16, [("90832", 1)]),
        (37, [("90832", 1)]),
        (38, [("90834", 1)]),
        (52, [("90834", 1)]),
        (53, [("90837", 1)]),
        (90, [("90837", 1)]),
    ],
)
def test_psychotherapy_code_follows_the_time_ranges(
    minutes: int, expected: list[tuple[str, int]]
) -> None:
    assert codes(encounter(psychotherapy_minutes=minutes)) == expected


def test_under_16_minutes_says_why_nothing_was_billed() -> None:
    coding = code_encounter(encounter(psychotherapy_minutes=15))
    assert coding.lines == ()
    assert any("16 min" in note for note in coding.notes)


def test_unsigned_note_produces_no_charge() -> None:
    coding = code_encounter(encounter(signed_at=None, psychotherapy_minutes=60))
    assert coding.lines == ()
    assert "not signed" in coding.notes[0]


def test_intake_is_a_diagnostic_evaluation() -> None:
    assert codes(encounter(kind="intake", psychotherapy_minutes=60)) == [("90791", 1)]


@pytest.mark.parametrize(
    ("minutes", "present", "expected"),
    [
        (25, True, []),
        (26, True, [("90847", 1)]),
        (26, False, [("90846", 1)]),
        (50, False, [("90846", 1)]),
    ],
)
def test_family_psychotherapy_needs_26_minutes_and_tells_with_or_without_patient(
    minutes: int, present: bool, expected: list[tuple[str, int]]
) -> None:
    facts = encounter(kind="family", psychotherapy_minutes=minutes, with_patient_present=present)
    assert codes(facts) == expected


def test_group_psychotherapy() -> None:
    assert codes(encounter(kind="group", psychotherapy_minutes=90)) == [("90853", 1)]


def test_telehealth_gets_modifier_95_and_a_telehealth_place_of_service() -> None:
    home = code_encounter(encounter(telehealth=True, place_of_service="10")).lines[0]
    assert home.modifiers == ("95",)
    assert home.place_of_service == "10"
    office = code_encounter(encounter(telehealth=True, place_of_service="11"))
    assert office.lines[0].place_of_service == "02"
    assert any("POS 02" in n for n in office.notes)
    in_person = code_encounter(encounter()).lines[0]
    assert in_person.modifiers == ()
    assert in_person.place_of_service == "11"


def test_diagnosis_pointers_point_at_up_to_four_icd10_codes_primary_first() -> None:
    many = ("F43.10", "F32.1", "F41.1", "F10.20", "Z63.0")
    assert code_encounter(encounter(diagnoses=many)).lines[0].diagnosis_pointers == (1, 2, 3, 4)
    assert code_encounter(encounter(diagnoses=("F43.10",))).lines[0].diagnosis_pointers == (1,)


@pytest.mark.parametrize(
    ("minutes", "units"),
    [
        (None, 0),
        (0, 0),
        (30, 0),
        (31, 1),
        (60, 1),
        (90, 1),
        (91, 2),
        (120, 2),
        (480, 8),
        (510, 8),
        (511, 9),
    ],
)
def test_monitoring_units_one_per_hour_plus_one_past_the_midpoint(
    minutes: int | None, units: int
) -> None:
    assert monitoring_units(minutes) == units


def dosing(*clinicians: Clinician, minutes: int = 480) -> EncounterFacts:
    return encounter(
        kind="dosing", psychotherapy_minutes=None, monitoring_minutes=minutes, clinicians=clinicians
    )


FIRST = Clinician("md-1", "prescriber", npi="1003000126", monitoring_role="first")
SECOND = Clinician("md-2", "therapist", npi="1245319599", monitoring_role="second")
STAFF = Clinician("rn-1", "nurse", monitoring_role="staff")


def test_first_clinician_alone_bills_0820t_per_hour() -> None:
    assert codes(dosing(FIRST)) == [("0820T", 8)]


def test_second_clinician_and_staff_are_add_ons_to_0820t() -> None:
    assert codes(dosing(FIRST, SECOND, STAFF)) == [("0820T", 8), ("0821T", 8), ("0822T", 8)]


def test_each_clinician_is_billed_for_their_own_documented_minutes() -> None:
    second = replace(SECOND, minutes=200)
    staff = replace(STAFF, minutes=30)
    coding = code_encounter(dosing(FIRST, second, staff))
    assert [(ln.cpt, ln.units) for ln in coding.lines] == [("0820T", 8), ("0821T", 3)]
    assert any("0822T" in n for n in coding.notes)


@pytest.mark.parametrize("add_ons", [(SECOND,), (STAFF,), (SECOND, STAFF)])
def test_add_ons_are_never_billed_without_0820t(add_ons: tuple[Clinician, ...]) -> None:
    coding = code_encounter(dosing(*add_ons))
    assert coding.lines == ()
    assert any("need 0820T" in n for n in coding.notes)


def test_add_ons_are_dropped_when_the_first_clinician_has_under_one_unit() -> None:
    first = replace(FIRST, minutes=30)
    assert codes(dosing(first, SECOND, STAFF)) == []


def test_monitoring_is_in_person_so_telehealth_dosing_bills_none() -> None:
    assert codes(replace(dosing(FIRST, SECOND), telehealth=True, place_of_service="10")) == []


def test_claim_level_add_on_check_is_per_date_of_service() -> None:
    d1, d2 = date(2026, 11, 2), date(2026, 11, 3)
    assert add_ons_have_primary([(d1, "0820T"), (d1, "0821T"), (d1, "0822T")])
    assert not add_ons_have_primary([(d1, "0820T"), (d2, "0821T")])


def test_addendum_changing_minutes_reverses_and_recharges_unchanged_lines_stay() -> None:
    first = code_encounter(dosing(FIRST, STAFF))
    active = [
        ActiveCharge(charge_id("enc-1", 1, ln.key), ln.key, stored_facts(ln)) for ln in first.lines
    ]
    revised = code_encounter(replace(dosing(FIRST, replace(STAFF, minutes=120)), revision=2))
    plan = plan_capture("enc-1", 2, revised.lines, active)
    assert [line.cpt for _, line in plan.create] == ["0822T"]
    assert plan.create[0][0] == "chg:enc-1:r2:monitoring-staff-rn-1"
    assert plan.keep == (charge_id("enc-1", 1, "monitoring-first"),)
    assert plan.reverse == (charge_id("enc-1", 1, "monitoring-staff-rn-1"),)


def test_same_revision_again_plans_nothing_new() -> None:
    lines = code_encounter(encounter()).lines
    active = [ActiveCharge(charge_id("enc-1", 1, ln.key), ln.key, stored_facts(ln)) for ln in lines]
    plan = plan_capture("enc-1", 1, lines, active)
    assert plan.create == ()
    assert plan.reverse == ()


def test_psychotherapy_during_dosing_is_part_of_the_monitoring_codes() -> None:
    coding = code_encounter(replace(dosing(FIRST), psychotherapy_minutes=60))
    assert [(ln.cpt, ln.units) for ln in coding.lines] == [("0820T", 8)]
    assert any("included in 0820T" in n for n in coding.notes)


def test_clinical_staff_cannot_be_billed_as_the_physician_or_qhp() -> None:
    nurse_first = Clinician("rn-2", "nurse", monitoring_role="first")
    coding = code_encounter(dosing(nurse_first, STAFF))
    assert coding.lines == ()
    assert any("not a physician/QHP" in n for n in coding.notes)
    nurse_second = Clinician("rn-2", "nurse", monitoring_role="second")
    assert codes(dosing(FIRST, nurse_second)) == [("0820T", 8)]
