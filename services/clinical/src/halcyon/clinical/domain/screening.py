"""Eligibility screening for psychedelic-assisted therapy, evaluated against protocol data."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from halcyon.clinical.domain.common import Icd10Code, ShortText
from halcyon.clinical.domain.protocols import (
    ConditionRule,
    DiagnosisRule,
    FlagRule,
    MeasureRule,
    Protocol,
    Rule,
    WashoutRule,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ConditionCode = Annotated[
    str, StringConstraints(pattern=r"^[a-z_]{2,60}$", min_length=2, max_length=60)
]


class Medication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText
    drug_class: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,40}$")]
    # None: still taking it.
    last_dose_on: date | None = None
    # Read from the client's medication list rather than typed into the screening.
    on_medication_list: bool = False


class ScreeningHistory(BaseModel):
    """What the prescriber found: the facts the protocol's rules read."""

    model_config = ConfigDict(extra="forbid")

    screened_on: date
    systolic_bp: Annotated[int, Field(ge=50, le=300)] | None = None
    diastolic_bp: Annotated[int, Field(ge=20, le=200)] | None = None
    qtc_ms: Annotated[int, Field(ge=200, le=800)] | None = None
    pregnant: bool = False
    lactating: bool = False
    conditions: list[ConditionCode] = Field(default_factory=list, max_length=50)
    diagnoses: list[Icd10Code] = Field(default_factory=list, max_length=50)
    medications: list[Medication] = Field(default_factory=list, max_length=50)


class ScreeningRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    history: ScreeningHistory


class Finding(BaseModel):
    code: str
    detail: str


class ScreeningResult(BaseModel):
    protocol_id: str
    eligible: bool
    reasons: list[Finding]
    decision: Literal["eligible", "ineligible"]


def _matches(rule: Rule, history: ScreeningHistory) -> str | None:
    """The detail of the match, or None."""
    if isinstance(rule, ConditionRule):
        found = sorted(set(rule.conditions) & set(history.conditions))
        return f"recorded condition {', '.join(found)}" if found else None
    if isinstance(rule, DiagnosisRule):
        hits = [
            code
            for code in history.diagnoses
            if any(code.startswith(p) for p in rule.prefixes)
            and not any(code.startswith(e) for e in rule.except_prefixes)
        ]
        return f"diagnosis {', '.join(hits)}" if hits else None
    if isinstance(rule, MeasureRule):
        value = getattr(history, rule.measure)
        if value is not None and value > rule.limit:
            return f"{rule.measure.replace('_', ' ')} {value} > {rule.limit:g}"
        return None
    if isinstance(rule, FlagRule):
        return rule.flag if getattr(history, rule.flag) else None
    if isinstance(rule, WashoutRule):
        hits = []
        for med in history.medications:
            named = med.name.strip().lower() in rule.drug_names
            if med.drug_class not in rule.drug_classes and not named:
                continue
            listed = " (medication list)" if med.on_medication_list else ""
            if med.last_dose_on is None:
                hits.append(f"{med.name} ({med.drug_class}){listed} is still being taken")
                continue
            clear_on = med.last_dose_on + timedelta(days=rule.washout_days)
            if clear_on > history.screened_on:
                hits.append(
                    f"{med.name} ({med.drug_class}){listed} last taken {med.last_dose_on}; "
                    f"{rule.washout_days}-day washout ends {clear_on}"
                )
        return "; ".join(hits) if hits else None
    raise AssertionError(f"unknown rule {rule!r}")


def evaluate(protocol: Protocol, history: ScreeningHistory) -> ScreeningResult:
    """Every exclusion is checked; the result lists every reason, not just the first."""
    reasons = []
    for exclusion in protocol.exclusions:
        details = [d for rule in exclusion.rules if (d := _matches(rule, history))]
        if details:
            reasons.append(Finding(code=exclusion.code, detail="; ".join(details)))
    eligible = not reasons
    return ScreeningResult(
        protocol_id=protocol.id,
        eligible=eligible,
        reasons=reasons,
        decision="eligible" if eligible else "ineligible",
    )
