"""Episodes of care, their diagnoses, and treatment plans."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from halcyon.clinical.domain.common import AwareDatetime, Icd10Code, Id, ShortText
from halcyon.shared.errors import Conflict
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Diagnosis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Icd10Code
    description: ShortText | None = None
    primary: bool = False
    onset_on: date | None = None


class EpisodeOpening(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: Id
    program: ShortText  # e.g. "MDMA-AT for PTSD", "Outpatient SUD"
    started_on: date
    # A substance-use-disorder program: its records fall under 42 CFR Part 2.
    part2: bool = False
    diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _one_primary(self) -> EpisodeOpening:
        if sum(d.primary for d in self.diagnoses) > 1:
            raise ValueError("at most one primary diagnosis")
        if len({d.code for d in self.diagnoses}) != len(self.diagnoses):
            raise ValueError("a diagnosis is listed twice")
        return self


class EpisodeClosing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_on: date
    reason: ShortText


def ensure_open(episode: dict[str, object]) -> None:
    if episode.get("status") != "open":
        raise Conflict("this episode of care is closed")


class Objective(BaseModel):
    """Measurable: what is measured, the target, and by when."""

    model_config = ConfigDict(extra="forbid")

    description: Text
    measure: ShortText  # e.g. "PCL-5 total"
    target: ShortText  # e.g. "< 33"
    target_date: date


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Text
    objectives: Annotated[list[Objective], Field(min_length=1, max_length=10)]


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Text
    diagnosis_code: Icd10Code | None = None
    goals: Annotated[list[Goal], Field(min_length=1, max_length=10)]
    interventions: Annotated[list[Text], Field(min_length=1, max_length=20)]


class TreatmentPlanDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episode_id: Id
    site_id: Id
    effective_on: date
    review_on: date
    problems: Annotated[list[Problem], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _dates(self) -> TreatmentPlanDraft:
        if self.review_on <= self.effective_on:
            raise ValueError("review_on must be after effective_on")
        for problem in self.problems:
            for goal in problem.goals:
                for objective in goal.objectives:
                    if objective.target_date < self.effective_on:
                        raise ValueError("an objective's target date is before the plan starts")
        return self


class ClientSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signed_by_name: ShortText
    signed_at: AwareDatetime
    relationship: Literal["self", "guardian", "representative"] = "self"
