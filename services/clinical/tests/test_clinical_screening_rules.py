"""Screening: each exclusion makes the client ineligible with that reason; clean → eligible."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from halcyon.clinical.domain.protocols import ESKETAMINE_REMS, MDMA_PTSD, PROTOCOLS
from halcyon.clinical.domain.screening import ScreeningHistory, evaluate

SCREENED = date(2026, 11, 27)


def history(**kw: Any) -> ScreeningHistory:
    base: dict[str, Any] = {
        "screened_on": SCREENED,
        "systolic_bp": 122,
        "diastolic_bp": 78,
        "qtc_ms": 410,
    }
    return ScreeningHistory.model_validate({**base, **kw})


def test_clean_history_is_eligible_for_every_protocol() -> None:
    for protocol in PROTOCOLS.values():
        result = evaluate(protocol, history(diagnoses=["F43.10"]))
        assert result.eligible
        assert result.decision == "eligible"
        assert result.reasons == []


MDMA_EXCLUSIONS = [
    ("uncontrolled_hypertension", {"systolic_bp": 165, "diastolic_bp": 95}),
    ("uncontrolled_hypertension", {"conditions": ["uncontrolled_hypertension"]}),
    ("arrhythmia_or_qtc_prolongation", {"qtc_ms": 470}),
    ("arrhythmia_or_qtc_prolongation", {"conditions": ["arrhythmia"]}),
    ("arrhythmia_or_qtc_prolongation", {"diagnoses": ["I48.91"]}),
    ("pregnancy_or_lactation", {"pregnant": True}),
    ("pregnancy_or_lactation", {"lactating": True}),
    ("primary_psychotic_disorder", {"diagnoses": ["F20.9"]}),
    ("primary_psychotic_disorder", {"conditions": ["primary_psychotic_disorder"]}),
    ("bipolar_i", {"diagnoses": ["F31.2"]}),
    ("current_substance_use_disorder", {"diagnoses": ["F10.20"]}),
    ("current_substance_use_disorder", {"conditions": ["current_substance_use_disorder"]}),
    (
        "interacting_medication_washout",
        {"medications": [{"name": "phenelzine", "drug_class": "maoi"}]},
    ),
    (
        "interacting_medication_washout",
        {
            "medications": [
                {"name": "sertraline", "drug_class": "ssri", "last_dose_on": "2026-11-20"}
            ]
        },
    ),
    (
        "interacting_medication_washout",
        {
            "medications": [
                {"name": "fluoxetine", "drug_class": "ssri", "last_dose_on": "2026-11-01"}
            ]
        },
    ),
]


@pytest.mark.parametrize(("reason", "facts"), MDMA_EXCLUSIONS)
def test_each_mdma_exclusion_makes_the_client_ineligible_with_that_reason(
    reason: str, facts: dict[str, Any]
) -> None:
    result = evaluate(MDMA_PTSD, history(**facts))
    assert not result.eligible
    assert result.decision == "ineligible"
    assert [r.code for r in result.reasons] == [reason]


def test_every_reason_is_reported_not_just_the_first() -> None:
    result = evaluate(MDMA_PTSD, history(pregnant=True, diagnoses=["F20.9", "F31.2"]))
    assert {r.code for r in result.reasons} == {
        "pregnancy_or_lactation",
        "primary_psychotic_disorder",
        "bipolar_i",
    }


@pytest.mark.parametrize(
    "facts",
    [
        {"diagnoses": ["F31.81"]},  # bipolar II is not bipolar I
        {"diagnoses": ["F10.21"]},  # alcohol dependence in remission
        {"diagnoses": ["F17.210"]},  # nicotine
        {
            "medications": [
                {"name": "sertraline", "drug_class": "ssri", "last_dose_on": "2026-11-01"}
            ]
        },  # 26 days: washed out
        {"systolic_bp": 140, "diastolic_bp": 90},  # at, not above, the limit
    ],
)
def test_near_misses_stay_eligible(facts: dict[str, Any]) -> None:
    assert evaluate(MDMA_PTSD, history(**facts)).eligible


@pytest.mark.parametrize(
    ("reason", "facts"),
    [
        ("aneurysmal_vascular_disease_or_avm", {"conditions": ["avm"]}),
        ("aneurysmal_vascular_disease_or_avm", {"diagnoses": ["I71.4"]}),
        ("intracerebral_hemorrhage_history", {"diagnoses": ["I61.9"]}),
        ("esketamine_or_ketamine_hypersensitivity", {"conditions": ["ketamine_hypersensitivity"]}),
        ("uncontrolled_hypertension", {"systolic_bp": 150, "diastolic_bp": 85}),
        ("pregnancy", {"pregnant": True}),
    ],
)
def test_each_esketamine_exclusion(reason: str, facts: dict[str, Any]) -> None:
    result = evaluate(ESKETAMINE_REMS, history(**facts))
    assert [r.code for r in result.reasons] == [reason]
