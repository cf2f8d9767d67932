"""Scoring: known answer sets give the published totals and bands; safety alert rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from halcyon.clinical.domain.assessments import (
    AssessmentSubmission,
    CssrsAnswers,
    InvalidAnswers,
    score,
    score_cssrs,
    score_scale,
)


def answers(total: int, items: int, item_max: int, last_zero: bool = False) -> list[int]:
    """Answer sets with an exact total, filled front to back (item 9 of PHQ-9 last)."""
    out = []
    left = total
    for _ in range(items):
        value = min(item_max, left)
        out.append(value)
        left -= value
    assert left == 0
    if last_zero:
        assert out[-1] == 0
    return out


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(total: int, band: str) -> None:
    result = score_scale("phq9", answers(total, 9, 3))
    assert (result.total, result.severity) == (total, band)


def test_phq9_published_example_sets() -> None:
    assert score_scale("phq9", [0] * 9).model_dump(include={"total", "severity"}) == {
        "total": 0,
        "severity": "minimal",
    }
    assert score_scale("phq9", [1] * 9).total == 9
    assert score_scale("phq9", [2] * 9).severity == "moderately_severe"  # 18
    assert score_scale("phq9", [3] * 9).severity == "severe"  # 27


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands(total: int, band: str) -> None:
    result = score_scale("gad7", answers(total, 7, 3))
    assert (result.total, result.severity) == (total, band)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "below_threshold"),
        (32, "below_threshold"),
        (33, "provisional_ptsd"),
        (80, "provisional_ptsd"),
    ],
)
def test_pcl5_total_and_provisional_cutoff(total: int, band: str) -> None:
    result = score_scale("pcl5", answers(total, 20, 4))
    assert (result.total, result.severity) == (total, band)
    assert result.safety_alert is None


@pytest.mark.parametrize(
    ("instrument", "items"),
    [
        ("phq9", [0] * 8),  # too few
        ("phq9", [0] * 8 + [4]),  # item out of range
        ("gad7", [0] * 6 + [-1]),
        ("pcl5", [0] * 19 + [5]),
        ("pcl5", [0] * 21),
    ],
)
def test_out_of_range_or_missing_items_are_refused(instrument: str, items: list[int]) -> None:
    with pytest.raises(InvalidAnswers):
        score_scale(instrument, items)


def test_phq9_item9_above_zero_raises_a_safety_alert_and_zero_does_not() -> None:
    assert score_scale("phq9", [3] * 8 + [0]).safety_alert is None  # severe, but item 9 = 0
    for value in (1, 2, 3):
        alert = score_scale("phq9", [0] * 8 + [value]).safety_alert
        assert alert is not None
        assert "item 9" in alert
    assert score_scale("gad7", [3] * 7).safety_alert is None


def cssrs(**kw: bool | None) -> CssrsAnswers:
    base: dict[str, bool | None] = {
        "wish_to_be_dead": False,
        "suicidal_thoughts": False,
        "suicidal_behavior_lifetime": False,
    }
    return CssrsAnswers.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("given", "positive", "risk"),
    [
        ({}, False, "none"),
        ({"wish_to_be_dead": True}, False, "low"),
        (
            {
                "suicidal_thoughts": True,
                "thoughts_with_method": False,
                "intent": False,
                "plan_with_intent": False,
            },
            False,
            "low",
        ),
        (
            {
                "suicidal_thoughts": True,
                "thoughts_with_method": True,
                "intent": False,
                "plan_with_intent": False,
            },
            True,
            "moderate",
        ),
        (
            {
                "suicidal_thoughts": True,
                "thoughts_with_method": False,
                "intent": True,
                "plan_with_intent": False,
            },
            True,
            "high",
        ),
        (
            {
                "suicidal_thoughts": True,
                "thoughts_with_method": True,
                "intent": True,
                "plan_with_intent": True,
            },
            True,
            "high",
        ),
        (
            {"suicidal_behavior_lifetime": True, "suicidal_behavior_past_3_months": False},
            False,
            "moderate",
        ),
        (
            {"suicidal_behavior_lifetime": True, "suicidal_behavior_past_3_months": True},
            True,
            "high",
        ),
    ],
)
def test_cssrs_screener_positive_exactly_on_q3_q4_q5_or_recent_behaviour(
    given: dict[str, bool], positive: bool, risk: str
) -> None:
    result = score_cssrs(cssrs(**given))
    assert result.positive is positive
    assert result.risk == risk
    assert (result.safety_alert is not None) is positive


@pytest.mark.parametrize(
    "given",
    [
        {"thoughts_with_method": True},  # Q3 without Q2
        {"suicidal_thoughts": True},  # Q2 yes but Q3-5 unanswered
        {"suicidal_behavior_lifetime": True},  # no 3-month follow-up
        {"suicidal_behavior_past_3_months": True},  # recent without lifetime
    ],
)
def test_cssrs_skip_logic_is_enforced(given: dict[str, bool]) -> None:
    with pytest.raises(InvalidAnswers):
        score_cssrs(cssrs(**given))


def test_submission_must_use_the_instruments_answer_shape() -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidAnswers):
        score(AssessmentSubmission(instrument="phq9", site_id="s", administered_at=now))
    with pytest.raises(InvalidAnswers):
        score(
            AssessmentSubmission(
                instrument="cssrs_screener", site_id="s", administered_at=now, items=[0]
            )
        )


def test_item_answers_must_be_integers_not_strings_or_booleans() -> None:
    from pydantic import ValidationError

    now = datetime.now(UTC)
    for bad in (["1"] * 9, [True] * 9, [1.5] * 9):
        with pytest.raises(ValidationError):
            AssessmentSubmission(instrument="phq9", site_id="s", administered_at=now, items=bad)
