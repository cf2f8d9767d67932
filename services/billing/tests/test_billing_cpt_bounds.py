"""CPT rules that stop overbilling: add-on monitoring time is concurrent time; audio-only
telehealth is not modifier 95; a session without minutes is held, never dropped."""

from __future__ import annotations

from dataclasses import replace

import pytest
from halcyon.billing.domain.charges import ActiveCharge, plan_capture, stored_facts
from halcyon.billing.domain.coding import NO_PSYCHOTHERAPY_MINUTES, code_encounter

from services.billing.tests.test_billing_coding import FIRST, SECOND, STAFF, dosing, encounter


def units(coding_lines: object) -> list[tuple[str, int]]:
    return [(line.cpt, line.units) for line in coding_lines]  # type: ignore[attr-defined]


def test_add_ons_are_bounded_by_the_first_clinicians_monitoring_time() -> None:
    # The first clinician monitored 100 min, the second 480: only 100 min were concurrent.
    first = replace(FIRST, minutes=100)
    second = replace(SECOND, minutes=480)
    staff = replace(STAFF, minutes=480)
    coding = code_encounter(dosing(first, second, staff))
    assert units(coding.lines) == [("0820T", 2), ("0821T", 2), ("0822T", 2)]
    assert ("0821T", 8) not in units(coding.lines)
    assert any("counted as 100 min" in note for note in coding.notes)


def test_add_on_time_below_the_first_clinicians_is_its_own() -> None:
    first = replace(FIRST, minutes=480)
    second = replace(SECOND, minutes=100)
    assert units(code_encounter(dosing(first, second)).lines) == [("0820T", 8), ("0821T", 2)]


def test_audio_video_telehealth_gets_95() -> None:
    line = code_encounter(encounter(telehealth=True, place_of_service="10")).lines[0]
    assert line.modifiers == ("95",)


@pytest.mark.parametrize("modifier", ["93", "FQ"])
def test_audio_only_gets_the_payers_modifier_never_95(modifier: str) -> None:
    facts = encounter(telehealth=True, audio_only=True, place_of_service="10")
    line = code_encounter(facts, modifier).lines[0]
    assert line.modifiers == (modifier,)
    assert "95" not in line.modifiers


def test_audio_only_defaults_to_cpt_modifier_93() -> None:
    facts = encounter(telehealth=True, audio_only=True, place_of_service="02")
    assert code_encounter(facts).lines[0].modifiers == ("93",)


def test_an_unknown_audio_only_modifier_is_refused() -> None:
    facts = encounter(telehealth=True, audio_only=True, place_of_service="10")
    with pytest.raises(ValueError, match="93 or FQ"):
        code_encounter(facts, "95")


@pytest.mark.parametrize("kind", ["psychotherapy", "integration", "family"])
def test_a_session_without_minutes_is_a_held_line_with_its_reason(kind: str) -> None:
    coding = code_encounter(encounter(kind=kind, psychotherapy_minutes=None))
    assert len(coding.lines) == 1
    assert coding.lines[0].hold == NO_PSYCHOTHERAPY_MINUTES
    assert NO_PSYCHOTHERAPY_MINUTES in coding.notes


def test_documented_under_16_minutes_is_still_not_billable() -> None:
    coding = code_encounter(encounter(psychotherapy_minutes=10))
    assert coding.lines == ()


def test_documenting_the_minutes_later_replaces_the_held_charge() -> None:
    held = code_encounter(encounter(psychotherapy_minutes=None)).lines[0]
    active = [ActiveCharge("chg:enc-1:r1:psychotherapy", held.key, stored_facts(held))]
    # The addendum documents 20 min: 90832, the same code the held line carried.
    fixed = code_encounter(encounter(psychotherapy_minutes=20, revision=2)).lines
    plan = plan_capture("enc-1", 2, fixed, active)
    assert plan.reverse == ("chg:enc-1:r1:psychotherapy",)
    assert [line.cpt for _, line in plan.create] == ["90832"]
    assert plan.create[0][1].hold is None
