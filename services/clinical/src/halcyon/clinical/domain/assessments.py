"""Measurement-based care: PHQ-9, GAD-7, PCL-5 and the C-SSRS screener.

Items are validated, totals and severity bands computed here, never trusted from
the client application. Sources:
- PHQ-9: Kroenke, Spitzer & Williams 2001 — 9 items 0-3, total 0-27; bands
  0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe.
- GAD-7: Spitzer et al. 2006 — 7 items 0-3, total 0-21; 0-4 minimal, 5-9 mild,
  10-14 moderate, 15-21 severe.
- PCL-5: Weathers et al. 2013 (National Center for PTSD) — 20 items 0-4, total
  0-80; a total of 33 or more suggests *provisional* PTSD (not a diagnosis).
- C-SSRS Screener (Columbia Lighthouse Project, "Screen Version - Recent") — see
  ``score_cssrs`` for exactly what this service implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from halcyon.clinical.domain.common import AwareDatetime, Id
from halcyon.shared.errors import RuleViolation
from pydantic import BaseModel, ConfigDict, Field, StrictInt

Instrument = Literal["phq9", "gad7", "pcl5", "cssrs_screener"]


class InvalidAnswers(RuleViolation):
    slug, title = "invalid-answers", "The answers do not fit the instrument"


@dataclass(frozen=True)
class Band:
    low: int
    high: int
    label: str


@dataclass(frozen=True)
class ScaleSpec:
    items: int
    item_min: int
    item_max: int
    bands: tuple[Band, ...]

    @property
    def max_total(self) -> int:
        return self.items * self.item_max


SCALES: dict[str, ScaleSpec] = {
    "phq9": ScaleSpec(
        9,
        0,
        3,
        (
            Band(0, 4, "minimal"),
            Band(5, 9, "mild"),
            Band(10, 14, "moderate"),
            Band(15, 19, "moderately_severe"),
            Band(20, 27, "severe"),
        ),
    ),
    "gad7": ScaleSpec(
        7,
        0,
        3,
        (
            Band(0, 4, "minimal"),
            Band(5, 9, "mild"),
            Band(10, 14, "moderate"),
            Band(15, 21, "severe"),
        ),
    ),
    "pcl5": ScaleSpec(
        20,
        0,
        4,
        (Band(0, 32, "below_threshold"), Band(33, 80, "provisional_ptsd")),
    ),
}
PCL5_PROVISIONAL_PTSD_CUTOFF = 33


class CssrsAnswers(BaseModel):
    """C-SSRS Screener, past month for Q1-Q5; Q6 lifetime with a past-3-months follow-up."""

    model_config = ConfigDict(extra="forbid")

    wish_to_be_dead: bool  # Q1
    suicidal_thoughts: bool  # Q2
    # Q3-Q5 are asked only when Q2 is yes (the screener's skip logic).
    thoughts_with_method: bool | None = None  # Q3
    intent: bool | None = None  # Q4
    plan_with_intent: bool | None = None  # Q5
    suicidal_behavior_lifetime: bool  # Q6
    suicidal_behavior_past_3_months: bool | None = None  # Q6 follow-up


class AssessmentSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: Instrument
    site_id: Id
    encounter_id: Id | None = None
    administered_at: AwareDatetime
    # Scales: item answers in order. C-SSRS: ``cssrs``.
    # Strict: "2" or true is not an answer to a scored item.
    items: list[StrictInt] | None = Field(default=None, max_length=40)
    cssrs: CssrsAnswers | None = None


class Score(BaseModel):
    instrument: Instrument
    total: int | None
    severity: str
    positive: bool = False  # C-SSRS: a positive screen
    risk: Literal["none", "low", "moderate", "high"] | None = None
    safety_alert: str | None = None  # why a safety alert must be raised, if it must


def band(spec: ScaleSpec, total: int) -> str:
    for b in spec.bands:
        if b.low <= total <= b.high:
            return b.label
    raise AssertionError(f"total {total} outside every band")


def score_scale(instrument: str, items: list[int]) -> Score:
    spec = SCALES[instrument]
    if len(items) != spec.items:
        raise InvalidAnswers(
            f"{instrument} has {spec.items} items; {len(items)} answer(s) were given"
        )
    bad = [
        i + 1
        for i, v in enumerate(items)
        if isinstance(v, bool) or not spec.item_min <= v <= spec.item_max
    ]
    if bad:
        raise InvalidAnswers(
            f"{instrument} items are scored {spec.item_min}-{spec.item_max}; "
            f"item(s) {bad} are out of range",
            items=bad,
        )
    total = sum(items)
    alert = None
    if instrument == "phq9" and items[8] > 0:
        alert = f"PHQ-9 item 9 (thoughts of death or self-harm) answered {items[8]}"
    return Score(instrument=instrument, total=total, severity=band(spec, total), safety_alert=alert)


def score_cssrs(answers: CssrsAnswers) -> Score:
    """What is implemented (the screener's published triage):

    - positive screen (→ safety alert): yes to Q3 (thoughts with method), Q4 (intent)
      or Q5 (plan with intent), or Q6 suicidal behaviour within the past 3 months;
    - risk: high = Q4 or Q5 yes, or Q6 within 3 months; moderate = Q3 yes, or Q6 more
      than 3 months ago; low = Q1 or Q2 yes only; none otherwise.
    Q3-Q5 must be left unanswered (or no) when Q2 is no; Q6's 3-month follow-up is
    required when Q6 is yes.
    """
    followups = (answers.thoughts_with_method, answers.intent, answers.plan_with_intent)
    if not answers.suicidal_thoughts and any(followups):
        raise InvalidAnswers("Q3-Q5 are only asked when Q2 (suicidal thoughts) is yes")
    if answers.suicidal_thoughts and any(v is None for v in followups):
        raise InvalidAnswers("Q2 is yes, so Q3, Q4 and Q5 must be answered")
    if answers.suicidal_behavior_lifetime and answers.suicidal_behavior_past_3_months is None:
        raise InvalidAnswers("Q6 is yes: answer whether it was within the past 3 months")
    if not answers.suicidal_behavior_lifetime and answers.suicidal_behavior_past_3_months:
        raise InvalidAnswers("behaviour in the past 3 months implies Q6 (lifetime) is yes")
    q3, q4, q5 = (bool(v) for v in followups)
    recent_behavior = bool(answers.suicidal_behavior_past_3_months)
    if q4 or q5 or recent_behavior:
        risk: Literal["none", "low", "moderate", "high"] = "high"
    elif q3 or answers.suicidal_behavior_lifetime:
        risk = "moderate"
    elif answers.wish_to_be_dead or answers.suicidal_thoughts:
        risk = "low"
    else:
        risk = "none"
    positive = q3 or q4 or q5 or recent_behavior
    reasons = [
        label
        for label, hit in (
            ("Q3 suicidal thoughts with method", q3),
            ("Q4 suicidal intent", q4),
            ("Q5 plan with intent", q5),
            ("Q6 suicidal behaviour in the past 3 months", recent_behavior),
        )
        if hit
    ]
    return Score(
        instrument="cssrs_screener",
        total=None,
        severity=f"{risk}_risk",
        positive=positive,
        risk=risk,
        safety_alert=f"positive C-SSRS screen: {', '.join(reasons)}" if positive else None,
    )


def score(submission: AssessmentSubmission) -> Score:
    if submission.instrument == "cssrs_screener":
        if submission.cssrs is None or submission.items is not None:
            raise InvalidAnswers("the C-SSRS screener is answered with 'cssrs', not 'items'")
        return score_cssrs(submission.cssrs)
    if submission.items is None or submission.cssrs is not None:
        raise InvalidAnswers(f"{submission.instrument} is answered with 'items'")
    return score_scale(submission.instrument, submission.items)
