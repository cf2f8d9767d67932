"""The lists feed screening: what is current on the screening day, and nothing refuted."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from halcyon.clinical.domain.chart_lists import (
    MedicationChange,
    StopRequest,
    changes,
    check_dates,
    facts_for_screening,
    stop,
    with_listed_facts,
)
from halcyon.clinical.domain.protocols import ESKETAMINE_REMS, MDMA_PTSD
from halcyon.clinical.domain.screening import ScreeningHistory, evaluate
from halcyon.shared.errors import Conflict, RuleViolation

SCREENED = date(2026, 11, 27)
CLEAN = ScreeningHistory(screened_on=SCREENED, systolic_bp=120, diastolic_bp=80, qtc_ms=410)


def med(**kw: Any) -> dict[str, Any]:
    return {"name": "sertraline", "drug_class": "ssri", "verification_status": "confirmed", **kw}


def screen(
    meds: list[dict[str, Any]] = [],  # noqa: B006 - read only
    allergies: list[dict[str, Any]] = [],  # noqa: B006
    problems: list[dict[str, Any]] = [],  # noqa: B006
    protocol: Any = MDMA_PTSD,
) -> dict[str, str]:
    facts = facts_for_screening(meds, allergies, problems, SCREENED)
    result = evaluate(protocol, with_listed_facts(CLEAN, facts))
    return {r.code: r.detail for r in result.reasons}


def test_a_current_ssri_on_the_list_excludes_with_the_washout_reason() -> None:
    reasons = screen([med(started_on="2025-01-01")])
    assert reasons == {
        "interacting_medication_washout": "sertraline (ssri) (medication list) is still being taken"
    }


def test_a_stopped_ssri_counts_until_its_washout_ends() -> None:
    assert "interacting_medication_washout" in screen([med(stopped_on="2026-11-20")])
    # 14 days after the last dose the washout is complete (stopped on the 13th → clear on 27th).
    assert screen([med(stopped_on="2026-11-13")]) == {}
    assert "interacting_medication_washout" in screen(
        [med(name="fluoxetine", stopped_on="2026-11-01")]
    )


@pytest.mark.parametrize("status", ["refuted", "entered_in_error"])
def test_refuted_or_mistaken_entries_never_exclude(status: str) -> None:
    assert screen([med(verification_status=status)]) == {}
    problem = {"code": "F31.2", "verification_status": status}
    assert screen(problems=[problem]) == {}


def test_a_medication_started_after_the_screening_day_does_not_count() -> None:
    assert screen([med(started_on="2026-11-28")]) == {}


def test_problems_and_allergies_become_diagnoses_and_conditions() -> None:
    reasons = screen(
        problems=[
            {"code": "F31.2", "verification_status": "confirmed"},
            {"code": "R00.0", "condition": "arrhythmia", "verification_status": "unconfirmed"},
            {"code": "F20.9", "verification_status": "confirmed", "stopped_on": "2020-01-01"},
        ]
    )
    assert set(reasons) == {"bipolar_i", "arrhythmia_or_qtc_prolongation"}
    ketamine = {"substance": "Ketamine", "verification_status": "confirmed"}
    assert set(screen(allergies=[ketamine], protocol=ESKETAMINE_REMS)) == {
        "esketamine_or_ketamine_hypersensitivity"
    }


def test_dates_are_checked_against_the_site_day() -> None:
    today = date(2026, 11, 27)
    with pytest.raises(RuleViolation):
        check_dates(date(2026, 11, 28), None, today)
    with pytest.raises(RuleViolation):
        check_dates(date(2026, 11, 20), date(2026, 11, 19), today)
    current = {"started_on": "2026-11-20", "stopped_on": None}
    with pytest.raises(RuleViolation):
        stop(current, StopRequest(stopped_on=date(2026, 11, 19)), today)
    assert stop(current, StopRequest(stopped_on=today), today) == {"stopped_on": "2026-11-27"}
    with pytest.raises(Conflict):
        stop({**current, "stopped_on": "2026-11-25"}, StopRequest(stopped_on=today), today)
    with pytest.raises(RuleViolation):
        changes(current, MedicationChange(), today)
    assert changes(current, MedicationChange(dose="50 mg daily"), today) == {"dose": "50 mg daily"}


def test_list_entries_are_valid_fhir_with_their_statuses() -> None:
    from datetime import UTC, datetime

    from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from halcyon.clinical.domain import fhir, fhir_lists

    today = date(2026, 11, 27)
    common = {
        "client_id": "c1",
        "recorded_by": "pres-1",
        "recorded_at": datetime(2026, 11, 1, 15, tzinfo=UTC),
        "source": "client_reported",
    }
    stopped = {**med(_id="m1", rxnorm="36437", stopped_on="2026-11-20"), **common}
    statement = fhir_lists.medication_statement(stopped, today)
    assert statement.status == "stopped"
    wrong = fhir_lists.medication_statement(
        {**stopped, "verification_status": "entered_in_error"}, today
    )
    assert wrong.status == "entered-in-error"
    allergy = fhir_lists.allergy_intolerance(
        {"_id": "a1", "substance": "penicillin", "criticality": "high", "reaction": "hives",
         "severity": "moderate", "verification_status": "confirmed", **common},
        today,
    )  # fmt: skip
    problem = fhir_lists.problem_condition(
        {"_id": "p1", "code": "F43.10", "verification_status": "provisional", **common}, today
    )
    for model, resource in (
        (MedicationStatement, statement),
        (AllergyIntolerance, allergy),
        (Condition, problem),
    ):
        again = model.model_validate(fhir.as_json(resource))
        assert again.id == resource.id
    assert fhir.as_json(allergy)["clinicalStatus"]["coding"][0]["code"] == "active"
    assert fhir.as_json(problem)["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert fhir.as_json(statement)["informationSource"] == {"reference": "Patient/c1"}


def test_a_known_generic_name_counts_without_a_recorded_class() -> None:
    reasons = screen([{"name": "Sertraline 50 mg", "verification_status": "unconfirmed"}])
    assert (
        "sertraline 50 mg (ssri) (medication list)"
        in reasons["interacting_medication_washout"].lower()
    )
    # Something the protocols do not name is not guessed at.
    assert screen([{"name": "ibuprofen", "verification_status": "confirmed"}]) == {}
