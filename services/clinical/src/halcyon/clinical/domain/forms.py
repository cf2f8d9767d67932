"""Agency-defined note templates and questionnaires: forms as data, versioned.

An agency admin defines sections and fields; every change is a new version and
notes keep the version they were written with, so an old note always renders
and validates against the form it was written on.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from halcyon.shared.errors import RuleViolation
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    label: Label
    score: int | None = None


class FormField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: FieldKey
    label: Label
    type: Literal["text", "long_text", "number", "boolean", "date", "choice", "multi_choice"]
    required: bool = False
    choices: list[Choice] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _choices(self) -> FormField:
        if self.type in {"choice", "multi_choice"} and not self.choices:
            raise ValueError(f"field {self.key} of type {self.type} needs choices")
        if self.type not in {"choice", "multi_choice"} and self.choices:
            raise ValueError(f"field {self.key} of type {self.type} takes no choices")
        return self


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Label
    fields: Annotated[list[FormField], Field(min_length=1, max_length=100)]


class FormDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,60}$")]
    name: Label
    kind: Literal["note_template", "questionnaire"]
    note_kind: (
        Literal[
            "intake", "psychotherapy", "family", "group", "preparation", "dosing", "integration"
        ]
        | None
    ) = None
    sections: Annotated[list[Section], Field(min_length=1, max_length=50)]
    # Questionnaires: sum the chosen choices' scores.
    scored: bool = False

    @model_validator(mode="after")
    def _unique_keys(self) -> FormDefinition:
        keys = [f.key for s in self.sections for f in s.fields]
        if len(keys) != len(set(keys)):
            raise ValueError("field keys must be unique within a form")
        if self.kind == "note_template" and self.note_kind is None:
            raise ValueError("a note template says which kind of note it is for")
        return self

    def fields(self) -> list[FormField]:
        return [f for s in self.sections for f in s.fields]


class InvalidFormAnswers(RuleViolation):
    slug, title = "invalid-form-answers", "The answers do not fit the form"


def _fits(field: FormField, value: Any) -> bool:
    allowed = {c.value for c in field.choices}
    if field.type in {"text", "long_text"}:
        return isinstance(value, str) and len(value) <= (200 if field.type == "text" else 20000)
    if field.type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if field.type == "boolean":
        return isinstance(value, bool)
    if field.type == "date":
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    if field.type == "choice":
        return value in allowed
    if field.type == "multi_choice":
        return isinstance(value, list) and all(v in allowed for v in value)
    return False


def validate_answers(form: FormDefinition, answers: dict[str, Any]) -> None:
    """Every required field present, every value of its type, no unknown keys."""
    fields = {f.key: f for f in form.fields()}
    problems = [f"unknown field {k}" for k in answers if k not in fields]
    for key, field in fields.items():
        value = answers.get(key)
        if value is None or value == "" or value == []:
            if field.required:
                problems.append(f"{key} is required")
            continue
        if not _fits(field, value):
            problems.append(f"{key} is not a valid {field.type}")
    if problems:
        raise InvalidFormAnswers("; ".join(problems), problems=problems)


def questionnaire_score(form: FormDefinition, answers: dict[str, Any]) -> int | None:
    if not form.scored:
        return None
    total = 0
    for field in form.fields():
        chosen = answers.get(field.key)
        picks = chosen if isinstance(chosen, list) else [chosen]
        total += sum(c.score or 0 for c in field.choices if c.value in picks)
    return total


def _note_form(
    key: str, name: str, note_kind: str, fields: list[tuple[str, str, bool]]
) -> FormDefinition:
    return FormDefinition.model_validate(
        {
            "key": key,
            "name": name,
            "kind": "note_template",
            "note_kind": note_kind,
            "sections": [
                {
                    "title": name,
                    "fields": [
                        {"key": k, "label": label, "type": "long_text", "required": required}
                        for k, label, required in fields
                    ],
                }
            ],
        }
    )


# The built-in note templates (version 1). Agencies define their own alongside these.
BUILTIN_FORMS: dict[str, FormDefinition] = {
    "builtin:intake": _note_form(
        "builtin-intake",
        "Intake assessment",
        "intake",
        [
            ("presenting_problem", "Presenting problem", True),
            ("history", "Psychiatric, medical and substance-use history", True),
            ("mental_status", "Mental status examination", True),
            ("risk_assessment", "Risk assessment", True),
            ("plan", "Plan", True),
        ],
    ),
    "builtin:progress-soap": _note_form(
        "builtin-progress-soap",
        "Progress note (SOAP)",
        "psychotherapy",
        [
            ("subjective", "Subjective", True),
            ("objective", "Objective", True),
            ("assessment", "Assessment", True),
            ("plan", "Plan", True),
        ],
    ),
    "builtin:progress-dap": _note_form(
        "builtin-progress-dap",
        "Progress note (DAP)",
        "psychotherapy",
        [("data", "Data", True), ("assessment", "Assessment", True), ("plan", "Plan", True)],
    ),
    "builtin:preparation": _note_form(
        "builtin-preparation",
        "Psychedelic preparation session",
        "preparation",
        [
            ("intentions", "Client's intentions", True),
            ("education", "Education provided (effects, risks, touch consent)", True),
            ("plan", "Plan for the dosing session", True),
        ],
    ),
    "builtin:dosing": _note_form(
        "builtin-dosing",
        "Psychedelic dosing session",
        "dosing",
        [
            ("narrative", "Session narrative", True),
            ("discharge_status", "Condition at discharge", True),
        ],
    ),
    "builtin:integration": _note_form(
        "builtin-integration",
        "Integration session",
        "integration",
        [
            ("experience", "Client's account of the experience", True),
            ("themes", "Integration themes", False),
            ("plan", "Plan", True),
        ],
    ),
}
