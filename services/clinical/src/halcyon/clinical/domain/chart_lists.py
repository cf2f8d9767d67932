"""Medication, allergy and problem lists: the lists every clinic keeps per client.

Each entry says when it started and stopped (site-local days), where the fact came
from (``source``), how sure we are of it (``verification_status``) and who recorded
it. Entries are never deleted: a mistake is marked ``entered_in_error``, so the
record of what a clinician saw on a given day survives.

The lists feed psychedelic screening (``facts_for_screening``): an SSRI on the
medication list or bipolar I on the problem list excludes a client from MDMA-assisted
therapy without anyone having to type it into the screening again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from halcyon.clinical.domain.common import Icd10Code, ShortText
from halcyon.clinical.domain.screening import ConditionCode, Medication, ScreeningHistory
from halcyon.shared.errors import Conflict, RuleViolation
from pydantic import BaseModel, ConfigDict, StringConstraints

ListKind = Literal["medications", "allergies", "problems"]
LIST_KINDS: tuple[ListKind, ...] = ("medications", "allergies", "problems")

Source = Literal[
    "client_reported",
    "family_reported",
    "prescribed_here",
    "outside_record",
    "pharmacy_record",
    "clinician_observed",
]
# FHIR's verification codes (entered-in-error spelled the Python way); "provisional"
# and "differential" only mean something for problems but do no harm elsewhere.
Verification = Literal[
    "unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered_in_error"
]
# Entries that say "this is not true": screening and "current" lists ignore them.
NOT_TRUE: frozenset[str] = frozenset({"refuted", "entered_in_error"})

DrugClass = Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,40}$")]
RxNorm = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ListEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started_on: date | None = None
    stopped_on: date | None = None
    source: Source
    verification_status: Verification = "unconfirmed"
    note: Note | None = None


class MedicationEntry(ListEntry):
    name: ShortText
    # The class the screening rules read (ssri, snri, maoi, lithium…); optional because
    # not every medication matters to a protocol.
    drug_class: DrugClass | None = None
    rxnorm: RxNorm | None = None
    dose: ShortText | None = None


class AllergyEntry(ListEntry):
    substance: ShortText
    category: Literal["medication", "food", "environment", "biologic"] = "medication"
    criticality: Literal["low", "high", "unable_to_assess"] | None = None
    reaction: ShortText | None = None
    severity: Literal["mild", "moderate", "severe"] | None = None


class ProblemEntry(ListEntry):
    code: Icd10Code
    description: ShortText | None = None
    # A screening condition code (bipolar_i, arrhythmia…) when the ICD-10 code alone does
    # not say it; protocols match on either.
    condition: ConditionCode | None = None


class ListChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started_on: date | None = None
    source: Source | None = None
    verification_status: Verification | None = None
    note: Note | None = None


class MedicationChange(ListChange):
    name: ShortText | None = None
    drug_class: DrugClass | None = None
    rxnorm: RxNorm | None = None
    dose: ShortText | None = None


class AllergyChange(ListChange):
    substance: ShortText | None = None
    category: Literal["medication", "food", "environment", "biologic"] | None = None
    criticality: Literal["low", "high", "unable_to_assess"] | None = None
    reaction: ShortText | None = None
    severity: Literal["mild", "moderate", "severe"] | None = None


class ProblemChange(ListChange):
    code: Icd10Code | None = None
    description: ShortText | None = None
    condition: ConditionCode | None = None


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stopped_on: date
    reason: Note | None = None


@dataclass(frozen=True)
class ListSpec:
    """What differs between the three lists: names, models and the FHIR resource."""

    kind: ListKind
    singular: str
    entry: type[ListEntry]
    change: type[ListChange]
    fhir_type: str


SPECS: dict[ListKind, ListSpec] = {
    "medications": ListSpec(
        "medications", "medication", MedicationEntry, MedicationChange, "MedicationStatement"
    ),
    "allergies": ListSpec(
        "allergies", "allergy", AllergyEntry, AllergyChange, "AllergyIntolerance"
    ),
    "problems": ListSpec("problems", "problem", ProblemEntry, ProblemChange, "Condition"),
}


def check_dates(started_on: date | None, stopped_on: date | None, today: date) -> None:
    """Site-local days: nothing starts or stops after today, nor stops before it starts."""
    if started_on is not None and started_on > today:
        raise RuleViolation(f"started_on {started_on} is after today ({today}) at the site")
    if stopped_on is not None and stopped_on > today:
        raise RuleViolation(f"stopped_on {stopped_on} is after today ({today}) at the site")
    if started_on is not None and stopped_on is not None and stopped_on < started_on:
        raise RuleViolation(f"stopped_on {stopped_on} is before started_on {started_on}")


def new_entry(body: ListEntry, today: date) -> dict[str, Any]:
    check_dates(body.started_on, body.stopped_on, today)
    return body.model_dump(mode="json")


def changes(current: dict[str, Any], body: ListChange, today: date) -> dict[str, Any]:
    """Only the fields sent; the start date is checked against the stop already recorded."""
    sent = body.model_dump(mode="json", exclude_unset=True)
    if not sent:
        raise RuleViolation("nothing to change")
    if "started_on" in sent:
        stopped = current.get("stopped_on")
        check_dates(
            body.started_on,
            date.fromisoformat(stopped) if stopped else None,
            today,
        )
    return sent


def stop(current: dict[str, Any], body: StopRequest, today: date) -> dict[str, Any]:
    if current.get("stopped_on"):
        raise Conflict(f"already stopped on {current['stopped_on']}")
    started = current.get("started_on")
    check_dates(date.fromisoformat(started) if started else None, body.stopped_on, today)
    stopped: dict[str, Any] = {"stopped_on": body.stopped_on.isoformat()}
    if body.reason:
        stopped["stop_reason"] = body.reason
    return stopped


def is_current(entry: dict[str, Any], on: date) -> bool:
    """Started by ``on`` (or undated), not stopped by then, and not refuted or in error."""
    if entry.get("verification_status") in NOT_TRUE:
        return False
    started, stopped = entry.get("started_on"), entry.get("stopped_on")
    if started and date.fromisoformat(started) > on:
        return False
    return not (stopped and date.fromisoformat(stopped) <= on)


# Allergies the protocols treat as conditions (SPRAVATO: hypersensitivity to
# esketamine or ketamine is a contraindication).
_ALLERGY_CONDITIONS = {
    "ketamine": "ketamine_hypersensitivity",
    "esketamine": "ketamine_hypersensitivity",
}


# Generic names of the drugs the protocols' washout rules name by class, so an entry
# recorded without a class still counts (FDA labels' established pharmacologic classes).
KNOWN_CLASSES: dict[str, str] = {
    **dict.fromkeys(
        ("citalopram", "escitalopram", "fluoxetine", "fluvoxamine", "paroxetine",
         "sertraline", "vilazodone"),
        "ssri",
    ),
    **dict.fromkeys(
        ("venlafaxine", "desvenlafaxine", "duloxetine", "levomilnacipran", "milnacipran"),
        "snri",
    ),
    **dict.fromkeys(
        ("phenelzine", "tranylcypromine", "isocarboxazid", "selegiline", "moclobemide"),
        "maoi",
    ),
}  # fmt: skip


def drug_class_of(entry: dict[str, Any]) -> str | None:
    """The class recorded, else the class of a known generic name (first word, lower case)."""
    if entry.get("drug_class"):
        return str(entry["drug_class"])
    words = str(entry.get("name", "")).strip().lower().split()
    return KNOWN_CLASSES.get(words[0]) if words else None


@dataclass(frozen=True)
class ListedFacts:
    medications: list[Medication]
    conditions: list[str]
    diagnoses: list[str]


def facts_for_screening(
    medications: list[dict[str, Any]],
    allergies: list[dict[str, Any]],
    problems: list[dict[str, Any]],
    screened_on: date,
) -> ListedFacts:
    """What the lists tell a screening on ``screened_on``.

    A medication stopped before the screening still counts, with its stop date as the
    last dose, because washout rules need it (fluoxetine: 35 days). Refuted entries and
    mistakes never count; neither does a medication that starts later.
    """
    meds = []
    for entry in medications:
        drug_class = drug_class_of(entry)
        if entry.get("verification_status") in NOT_TRUE or drug_class is None:
            continue
        started = entry.get("started_on")
        if started and date.fromisoformat(started) > screened_on:
            continue
        stopped = entry.get("stopped_on")
        last = date.fromisoformat(stopped) if stopped else None
        if last is not None and last > screened_on:
            last = None  # still being taken on the day of the screening
        meds.append(
            Medication(
                name=entry["name"],
                drug_class=drug_class,
                last_dose_on=last,
                on_medication_list=True,
            )
        )
    conditions: set[str] = set()
    diagnoses: list[str] = []
    for entry in problems:
        if not is_current(entry, screened_on):
            continue
        diagnoses.append(entry["code"])
        if entry.get("condition"):
            conditions.add(entry["condition"])
    for entry in allergies:
        if is_current(entry, screened_on):
            found = _ALLERGY_CONDITIONS.get(str(entry["substance"]).strip().lower())
            if found:
                conditions.add(found)
    return ListedFacts(meds, sorted(conditions), diagnoses)


def with_listed_facts(history: ScreeningHistory, facts: ListedFacts) -> ScreeningHistory:
    """The screening history plus what the lists add (what the prescriber typed stays).

    A copy rather than a re-validation: every value is valid already, and the lists may
    hold more entries than a typed history is allowed.
    """
    return history.model_copy(
        update={
            "medications": [*history.medications, *facts.medications],
            "conditions": sorted({*history.conditions, *facts.conditions}),
            "diagnoses": list(dict.fromkeys([*history.diagnoses, *facts.diagnoses])),
        }
    )
