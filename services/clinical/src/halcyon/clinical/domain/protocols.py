"""Psychedelic-therapy protocols as DATA: exclusions, vitals thresholds, session rules.

Adding a protocol means adding an entry here (or loading the same shape from an
agency's configuration); ``domain.screening`` and ``domain.vitals`` evaluate it.
Sources: MAPS MAPP1/MAPP2 phase 3 protocols (MDMA-AT for PTSD) and the SPRAVATO
(esketamine) label and REMS (Janssen, FDA-approved REMS document).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ConditionRule(BaseModel):
    """Ineligible when the history records any of these condition codes."""

    kind: Literal["condition"] = "condition"
    conditions: list[str]


class DiagnosisRule(BaseModel):
    """Ineligible when an active ICD-10-CM diagnosis starts with a prefix (minus exceptions)."""

    kind: Literal["diagnosis"] = "diagnosis"
    prefixes: list[str]
    except_prefixes: list[str] = []


class MeasureRule(BaseModel):
    """Ineligible when a measured value is above the limit."""

    kind: Literal["measure_above"] = "measure_above"
    measure: Literal["systolic_bp", "diastolic_bp", "qtc_ms"]
    limit: float


class FlagRule(BaseModel):
    kind: Literal["flag"] = "flag"
    flag: Literal["pregnant", "lactating"]


class WashoutRule(BaseModel):
    """Ineligible while a drug of these classes (or names) was taken within ``washout_days``."""

    kind: Literal["washout"] = "washout"
    drug_classes: list[str] = []
    drug_names: list[str] = []
    washout_days: int


Rule = Annotated[
    ConditionRule | DiagnosisRule | MeasureRule | FlagRule | WashoutRule,
    Field(discriminator="kind"),
]


class Exclusion(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # the reason code a screening result reports
    description: str
    rules: list[Rule]  # any matching rule excludes


class VitalsThresholds(BaseModel):
    """A reading strictly above a max (or below a min) is an alert."""

    systolic_max: int | None = None
    diastolic_max: int | None = None
    pulse_max: int | None = None
    temperature_c_max: float | None = None
    spo2_min: int | None = None


class SessionRules(BaseModel):
    minimum_monitoring_minutes: int | None = None
    # Blood-pressure checks a session must record, by phase.
    required_bp_phases: list[Literal["pre_dose", "post_dose_40min", "discharge"]] = []
    monitoring_form_due_days: int | None = None  # REMS patient monitoring form


class Protocol(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    medicine: str
    exclusions: list[Exclusion]
    vitals: VitalsThresholds
    session: SessionRules = SessionRules()


MDMA_PTSD = Protocol(
    id="mdma-ptsd",
    name="MDMA-assisted therapy for PTSD",
    medicine="mdma",
    exclusions=[
        Exclusion(
            code="uncontrolled_hypertension",
            description="Uncontrolled hypertension (resting BP above 140/90 mmHg)",
            rules=[
                ConditionRule(conditions=["uncontrolled_hypertension"]),
                MeasureRule(measure="systolic_bp", limit=140),
                MeasureRule(measure="diastolic_bp", limit=90),
            ],
        ),
        Exclusion(
            code="arrhythmia_or_qtc_prolongation",
            description="Arrhythmia or QTc prolongation (QTc above 450 ms)",
            rules=[
                ConditionRule(conditions=["arrhythmia", "qtc_prolongation"]),
                DiagnosisRule(prefixes=["I47", "I48", "I49", "I45.81"]),
                MeasureRule(measure="qtc_ms", limit=450),
            ],
        ),
        Exclusion(
            code="pregnancy_or_lactation",
            description="Pregnant or lactating",
            rules=[FlagRule(flag="pregnant"), FlagRule(flag="lactating")],
        ),
        Exclusion(
            code="primary_psychotic_disorder",
            description="Primary psychotic disorder",
            rules=[
                ConditionRule(conditions=["primary_psychotic_disorder"]),
                DiagnosisRule(prefixes=["F20", "F22", "F23", "F24", "F25", "F28", "F29"]),
            ],
        ),
        Exclusion(
            code="bipolar_i",
            description="Bipolar I disorder",
            rules=[
                ConditionRule(conditions=["bipolar_i"]),
                # F31.81 is bipolar II; every other F31 code is bipolar I.
                DiagnosisRule(prefixes=["F31"], except_prefixes=["F31.81"]),
            ],
        ),
        Exclusion(
            code="current_substance_use_disorder",
            description="Current (not in remission) substance use disorder",
            rules=[
                ConditionRule(conditions=["current_substance_use_disorder"]),
                DiagnosisRule(
                    prefixes=[f"F{n}.1" for n in range(10, 20)]
                    + [f"F{n}.2" for n in range(10, 20)],
                    # x.11 / x.21 are "in remission"; F17 is tobacco.
                    except_prefixes=[f"F{n}.11" for n in range(10, 20)]
                    + [f"F{n}.21" for n in range(10, 20)]
                    + ["F17"],
                ),
            ],
        ),
        Exclusion(
            code="interacting_medication_washout",
            description=(
                "Interacting medication without completed washout (MAOIs, SSRIs, SNRIs: "
                "tapered and stopped at least 14 days before dosing; fluoxetine 35 days)"
            ),
            rules=[
                WashoutRule(drug_classes=["maoi", "ssri", "snri"], washout_days=14),
                WashoutRule(drug_names=["fluoxetine"], washout_days=35),
            ],
        ),
    ],
    # Thresholds from the issue (issue 4): systolic > 160, pulse > 110, temperature > 38.0 °C.
    vitals=VitalsThresholds(
        systolic_max=160, diastolic_max=110, pulse_max=110, temperature_c_max=38.0, spo2_min=92
    ),
)

ESKETAMINE_REMS = Protocol(
    id="esketamine-trd",
    name="Esketamine (SPRAVATO) for treatment-resistant depression, under the REMS",
    medicine="esketamine",
    exclusions=[
        Exclusion(
            code="aneurysmal_vascular_disease_or_avm",
            description=(
                "Aneurysmal vascular disease (thoracic/abdominal aorta, intracranial, "
                "peripheral arteries) or arteriovenous malformation (SPRAVATO contraindication)"
            ),
            rules=[
                ConditionRule(conditions=["aneurysmal_vascular_disease", "avm"]),
                DiagnosisRule(prefixes=["I71", "I67.1", "I72", "Q28.2", "Q28.3"]),
            ],
        ),
        Exclusion(
            code="intracerebral_hemorrhage_history",
            description="History of intracerebral hemorrhage (SPRAVATO contraindication)",
            rules=[
                ConditionRule(conditions=["intracerebral_hemorrhage"]),
                DiagnosisRule(prefixes=["I61"]),
            ],
        ),
        Exclusion(
            code="esketamine_or_ketamine_hypersensitivity",
            description="Hypersensitivity to esketamine, ketamine or an excipient",
            rules=[ConditionRule(conditions=["ketamine_hypersensitivity"])],
        ),
        Exclusion(
            code="uncontrolled_hypertension",
            description="Uncontrolled hypertension (resting BP above 140/90 mmHg)",
            rules=[
                ConditionRule(conditions=["uncontrolled_hypertension"]),
                MeasureRule(measure="systolic_bp", limit=140),
                MeasureRule(measure="diastolic_bp", limit=90),
            ],
        ),
        Exclusion(
            code="pregnancy",
            description="Pregnant (embryo-fetal toxicity: not recommended)",
            rules=[FlagRule(flag="pregnant")],
        ),
    ],
    # SPRAVATO label: reassess before dosing if BP > 140/90; do not leave while elevated.
    vitals=VitalsThresholds(systolic_max=160, diastolic_max=100, pulse_max=110, spo2_min=92),
    # REMS: monitored for at least 2 hours; BP before dosing, ~40 min after, and before
    # discharge; the Patient Monitoring Form is submitted within 7 days.
    session=SessionRules(
        minimum_monitoring_minutes=120,
        required_bp_phases=["pre_dose", "post_dose_40min", "discharge"],
        monitoring_form_due_days=7,
    ),
)

PSILOCYBIN = Protocol(
    id="psilocybin-trd",
    name="Supervised psilocybin (adult-use service / research protocol)",
    medicine="psilocybin",
    exclusions=[
        Exclusion(
            code="primary_psychotic_disorder",
            description="Primary psychotic disorder (personal history)",
            rules=[
                ConditionRule(conditions=["primary_psychotic_disorder"]),
                DiagnosisRule(prefixes=["F20", "F22", "F23", "F24", "F25", "F28", "F29"]),
            ],
        ),
        Exclusion(
            code="bipolar_i",
            description="Bipolar I disorder",
            rules=[
                ConditionRule(conditions=["bipolar_i"]),
                DiagnosisRule(prefixes=["F31"], except_prefixes=["F31.81"]),
            ],
        ),
        Exclusion(
            code="uncontrolled_hypertension",
            description="Uncontrolled hypertension (resting BP above 140/90 mmHg)",
            rules=[
                ConditionRule(conditions=["uncontrolled_hypertension"]),
                MeasureRule(measure="systolic_bp", limit=140),
                MeasureRule(measure="diastolic_bp", limit=90),
            ],
        ),
        Exclusion(
            code="lithium",
            description="Taking lithium (seizure reports with psilocybin)",
            rules=[WashoutRule(drug_names=["lithium"], washout_days=14)],
        ),
        Exclusion(
            code="pregnancy_or_lactation",
            description="Pregnant or lactating",
            rules=[FlagRule(flag="pregnant"), FlagRule(flag="lactating")],
        ),
    ],
    vitals=VitalsThresholds(systolic_max=160, diastolic_max=110, pulse_max=120, spo2_min=92),
    # About 6 hours of supervision after the dose (Oregon service centers; COMP360).
    session=SessionRules(minimum_monitoring_minutes=6 * 60),
)

KETAMINE = Protocol(
    id="ketamine-trd",
    name="Ketamine (off-label) for treatment-resistant depression",
    medicine="ketamine",
    exclusions=[
        Exclusion(
            code="primary_psychotic_disorder",
            description="Primary psychotic disorder",
            rules=[
                ConditionRule(conditions=["primary_psychotic_disorder"]),
                DiagnosisRule(prefixes=["F20", "F22", "F23", "F24", "F25", "F28", "F29"]),
            ],
        ),
        Exclusion(
            code="uncontrolled_hypertension",
            description="Uncontrolled hypertension (resting BP above 140/90 mmHg)",
            rules=[
                ConditionRule(conditions=["uncontrolled_hypertension"]),
                MeasureRule(measure="systolic_bp", limit=140),
                MeasureRule(measure="diastolic_bp", limit=90),
            ],
        ),
        Exclusion(
            code="esketamine_or_ketamine_hypersensitivity",
            description="Hypersensitivity to ketamine",
            rules=[ConditionRule(conditions=["ketamine_hypersensitivity"])],
        ),
    ],
    vitals=VitalsThresholds(systolic_max=180, diastolic_max=110, pulse_max=120, spo2_min=92),
    session=SessionRules(
        minimum_monitoring_minutes=60, required_bp_phases=["pre_dose", "discharge"]
    ),
)

PROTOCOLS: dict[str, Protocol] = {
    p.id: p for p in (MDMA_PTSD, ESKETAMINE_REMS, PSILOCYBIN, KETAMINE)
}


def protocol(protocol_id: str) -> Protocol:
    from halcyon.shared.errors import NotFound

    try:
        return PROTOCOLS[protocol_id]
    except KeyError:
        raise NotFound(f"no protocol {protocol_id}; known: {sorted(PROTOCOLS)}") from None
