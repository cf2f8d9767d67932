"""Partner topics: separate contracts with the minimum necessary, never internal events.

Partners read ``partner.<audience>.*`` over SASL/SCRAM with ACLs (ADR 0007). Clients
appear only as a pseudonym that is stable per agency and audience (a keyed hash), so a
registry can follow one participant across sessions without learning who they are.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from halcyon.shared.contracts import EventContract
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Field descriptions partners read in the catalogue's field tables.
REPORT_ID = "Id of this report; the same in v1 and v2 of one dose. Drop duplicates by it."
PARTICIPANT = (
    "Pseudonym of the participant: a keyed hash, stable per agency for registries, the same "
    "in dose and session reports; it cannot be turned back into the client."
)
PROTOCOL = "The research protocol, e.g. mdma-ptsd."
SUPPLEMENTAL = "A supplemental (booster) dose within the session."
ADMINISTERED_ON = "The day it was given, in the site's time zone (never the time of day)."


class RegistryDoseReported(EventContract):
    """A controlled-substance dose given in a research protocol, for research registries.

    No name, date of birth, record number, clinician or exact time: a participant
    pseudonym, the protocol, what was given, how much, and the day.

    Deprecated: use ``halcyon.partner.registry_dose.reported.v2`` on
    ``partner.registry.dose.v2`` (exact decimal dose with its unit, and the route).
    Both are published for every dose until ``deprecated_after``, with the same
    ``report_id``.
    """

    event_type = "halcyon.partner.registry_dose.reported.v1"
    published_by = "inventory"
    topic = "partner.registry.dose.v1"
    subject_field = "report_id"
    deprecated_after: ClassVar[str | None] = "2027-06-30"
    example: ClassVar[dict[str, Any]] = {
        "report_id": "019caf49-1018-7fe1-810b-4fe83303852f",
        "participant": "5f0c3a9e2b7d41c8a6e1f03b9d2c7a44",
        "protocol_id": "mdma-ptsd",
        "substance": "mdma",
        "quantity_mg": 120.0,
        "supplemental": False,
        "administered_on": "2026-03-02",
    }

    report_id: Annotated[str, Field(description=REPORT_ID)]
    participant: Annotated[str, Field(description=PARTICIPANT)]
    protocol_id: Annotated[str, Field(description=PROTOCOL)]
    substance: Annotated[str, Field(description="What was given, e.g. MDMA, esketamine.")]
    quantity_mg: Annotated[float, Field(description="The dose in milligrams (v2: exact).")]
    supplemental: Annotated[bool, Field(description=SUPPLEMENTAL)]
    administered_on: Annotated[date, Field(description=ADMINISTERED_ON)]


# -- v2 of the dose report -----------------------------------------------------------

# Routes of administration a registry distinguishes (FDA route-of-administration terms).
AdministrationRoute = Literal["oral", "intranasal", "sublingual", "intramuscular", "intravenous"]


class DoseAmount(BaseModel):
    """An exact amount with its unit; the amount is a decimal string so no float rounding
    reaches a research dataset ("62.5", never 62.49999)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    amount: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?$")]
    unit: Literal["mg"] = "mg"

    @classmethod
    def milligrams(cls, quantity_mg: Decimal | int | str) -> DoseAmount:
        """An exact amount (never a float: "62.5" stays 62.5, and 1E-7 is written out)."""
        exact = Decimal(quantity_mg).normalize()
        return cls(amount=format(exact, "f"), unit="mg")


class RegistryDoseReportedV2(EventContract):
    """A controlled-substance dose given in a research protocol, for research registries (v2).

    Replaces v1 (``quantity_mg`` as a float) at the registries' request: the dose is an
    exact decimal string with its unit, and the route of administration is given when
    the product's dosage form tells it (``null`` when it does not, e.g. an injectable
    that may be given IV or IM). Same ``report_id`` and ``participant`` as the v1 event
    for the same dose, published in the same write.

    Deliberately left out (minimum necessary): name, date of birth, record number,
    Halcyon client id, appointment, clinicians, lot, site and the time of day.
    """

    event_type = "halcyon.partner.registry_dose.reported.v2"
    published_by = "inventory"
    topic = "partner.registry.dose.v2"
    subject_field = "report_id"
    example: ClassVar[dict[str, Any]] = {
        "report_id": "0193f1c2-7a10-7d3e-9b1a-4c2d8e6f0a11-0",
        "participant": "5f0c3a9e2b7d41c8a6e1f03b9d2c7a44",
        "protocol_id": "mdma-ptsd",
        "substance": "MDMA",
        "dose": {"amount": "120", "unit": "mg"},
        "route": "oral",
        "supplemental": False,
        "administered_on": "2026-11-20",
    }

    report_id: Annotated[str, Field(description=REPORT_ID)]
    participant: Annotated[str, Field(description=PARTICIPANT)]
    protocol_id: Annotated[str, Field(description=PROTOCOL)]
    substance: Annotated[str, Field(description="What was given, e.g. MDMA, esketamine.")]
    dose: Annotated[DoseAmount, Field(description="The exact dose and its unit.")]
    route: Annotated[
        AdministrationRoute | None,
        Field(description="Route of administration; null when the product does not tell it."),
    ] = None
    supplemental: Annotated[bool, Field(description=SUPPLEMENTAL)]
    administered_on: Annotated[date, Field(description=ADMINISTERED_ON)]


# -- dosing sessions -----------------------------------------------------------------


class AdverseEventCounts(BaseModel):
    """Adverse events of a session counted by severity; never their description."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    mild: Annotated[int, Field(ge=0)] = 0
    moderate: Annotated[int, Field(ge=0)] = 0
    severe: Annotated[int, Field(ge=0)] = 0
    life_threatening: Annotated[int, Field(ge=0)] = 0


class RegistrySessionReported(EventContract):
    """A psychedelic dosing session in a research protocol, once its note is signed.

    For research registries: the participant pseudonym (the same as in the dose reports,
    so the two join), the protocol, the session day in the site's time zone, its length,
    adverse events counted by severity, how many vital-sign readings crossed the
    protocol's thresholds, and whether a supplemental dose was given.

    Deliberately left out (minimum necessary, HIPAA 45 CFR 164.502(b)): the note's text,
    monitoring log and adverse-event descriptions; names, date of birth, record number
    and the Halcyon client and note ids; clinicians; exact times (start, dose, discharge).
    ``session_number`` is this session's rank among the participant's dosing sessions for
    the protocol documented at signing time (null if it cannot be told).
    """

    event_type = "halcyon.partner.registry_session.reported.v1"
    published_by = "clinical"
    topic = "partner.registry.session.v1"
    subject_field = "report_id"
    example: ClassVar[dict[str, Any]] = {
        "report_id": "9c41e07b3d5a4f2e8b6c1a0d7e3f5b29",
        "participant": "5f0c3a9e2b7d41c8a6e1f03b9d2c7a44",
        "protocol_id": "mdma-ptsd",
        "session_on": "2026-11-20",
        "session_number": 2,
        "duration_minutes": 480,
        "adverse_events": {"mild": 1, "moderate": 0, "severe": 0, "life_threatening": 0},
        "vitals_alerts": 1,
        "supplemental_dose_given": True,
    }

    report_id: Annotated[
        str, Field(description="A pseudonymous id of the session (not the note's id).")
    ]
    participant: Annotated[str, Field(description=PARTICIPANT)]
    protocol_id: Annotated[str, Field(description=PROTOCOL)]
    session_on: Annotated[date, Field(description="The session's day in the site's time zone.")]
    session_number: Annotated[
        int | None,
        Field(ge=1, description="Rank among the participant's dosing sessions in the protocol."),
    ] = None
    duration_minutes: Annotated[int, Field(ge=0, description="From start to discharge.")]
    adverse_events: Annotated[
        AdverseEventCounts, Field(description="Counted by severity; never described.")
    ]
    vitals_alerts: Annotated[
        int, Field(ge=0, description="Readings that crossed the protocol's thresholds.")
    ]
    supplemental_dose_given: Annotated[bool, Field(description=SUPPLEMENTAL)]
