"""Which CPT codes a signed encounter earns: pure rules, no I/O.

Each rule cites its source. Where the code set leaves a choice (the rounding of
per-hour monitoring units) the choice is recorded in
docs/adr/0601-billing-cpt-rules-and-monitoring-units.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

# CMS place-of-service codes for telehealth (CMS POS code set, 2024):
# 02 = telehealth provided other than in the patient's home, 10 = in the patient's home.
TELEHEALTH_POS = frozenset({"02", "10"})
# CPT Appendix P / AMA: modifier 95 = synchronous telemedicine via real-time audio-video.
TELEHEALTH_MODIFIER = "95"
# Audio-only (no video) is not what 95 describes. CPT modifier 93 (2022) = synchronous
# telemedicine via audio-only; CMS modifier FQ = furnished using audio-only technology.
# Which one a payer wants is the payer's setting (``audio_only_modifier``).
AUDIO_ONLY_MODIFIERS = frozenset({"93", "FQ"})
DEFAULT_AUDIO_ONLY_MODIFIER = "93"
# Documentation missing: the charge is held (and in the work queue) until an addendum.
NO_PSYCHOTHERAPY_MINUTES = (
    "psychotherapy minutes are not documented: add them by addendum to bill the session"
)
PSYCHOTHERAPY_KINDS = frozenset({"psychotherapy", "preparation", "integration"})
MONITORING_PRIMARY = "0820T"
MONITORING_SECOND = "0821T"
MONITORING_STAFF = "0822T"
MONITORING_ADD_ONS = frozenset({MONITORING_SECOND, MONITORING_STAFF})
# Roles that can be the physician/QHP of 0820T/0821T; anyone else is clinical staff (0822T).
QUALIFIED_PROFESSIONAL_ROLES = frozenset(
    {"prescriber", "therapist", "physician", "psychologist", "nurse_practitioner"}
)
# ICD-10 pointers: the 837P SV107 holds at most four (005010X222A1, 2400 SV107).
MAX_POINTERS = 4


@dataclass(frozen=True)
class Clinician:
    staff_id: str
    role: str
    npi: str | None = None
    monitoring_role: str | None = None  # first | second | staff
    minutes: int | None = None


@dataclass(frozen=True)
class EncounterFacts:
    """What billing needs from a signed note (the EncounterSigned contract, flattened)."""

    encounter_id: str
    client_id: str
    site_id: str
    kind: str
    service_date: date
    clinicians: tuple[Clinician, ...]
    diagnoses: tuple[str, ...]
    place_of_service: str
    signed_at: datetime | None
    psychotherapy_minutes: int | None = None
    monitoring_minutes: int | None = None
    with_patient_present: bool = True
    telehealth: bool = False
    audio_only: bool = False  # telehealth without video
    revision: int = 1


@dataclass(frozen=True)
class ChargeLine:
    """One billable service line, before pricing."""

    key: str  # stable per encounter: the same service keeps its key across revisions
    cpt: str
    units: int
    modifiers: tuple[str, ...]
    place_of_service: str
    diagnosis_pointers: tuple[int, ...]
    rendering_staff_id: str | None
    rendering_npi: str | None
    minutes: int | None = None
    # Set when documentation is missing: the charge is held with this reason, never dropped.
    hold: str | None = None

    def billable_facts(self) -> tuple[object, ...]:
        """What a payer sees; a revision changing any of these needs a correction."""
        facts: tuple[object, ...] = (
            self.cpt,
            self.units,
            self.modifiers,
            self.place_of_service,
            self.diagnosis_pointers,
            self.rendering_npi,
        )
        # Only held lines carry the hold (charges captured before it existed keep their
        # facts): documenting the minutes later must replace the held charge.
        return (*facts, self.hold) if self.hold else facts


@dataclass(frozen=True)
class Coding:
    lines: tuple[ChargeLine, ...]
    # Why something documented earned nothing (shown to billers; never silent).
    notes: tuple[str, ...] = field(default=())


def psychotherapy_code(minutes: int | None) -> str | None:
    """CPT 2024 psychotherapy time ranges (the midpoint rule applied to 30/45/60 min).

    90832: 16-37 minutes, 90834: 38-52, 90837: 53 or more; under 16 is not reportable.
    """
    if minutes is None or minutes < 16:
        return None
    if minutes <= 37:
        return "90832"
    if minutes <= 52:
        return "90834"
    return "90837"


def family_psychotherapy_code(minutes: int | None, with_patient_present: bool) -> str | None:
    """CPT 90846 (without the patient) / 90847 (with the patient): 50 min, reportable from 26."""
    if minutes is None or minutes < 26:
        return None
    return "90847" if with_patient_present else "90846"


def monitoring_units(minutes: int | None) -> int:
    """Per-hour units for 0820T-0822T from the documented monitoring time.

    CPT time rule: "a unit of time is attained when the mid-point is passed".
    One unit per full hour, plus one when the remainder passes the midpoint
    (31 minutes or more). So 30 min -> 0, 31 -> 1, 90 -> 1, 91 -> 2.
    """
    if minutes is None or minutes <= 0:
        return 0
    hours, remainder = divmod(minutes, 60)
    return hours + (1 if remainder > 30 else 0)


def diagnosis_pointers(diagnoses: tuple[str, ...]) -> tuple[int, ...]:
    """Pointers 1..4 into the claim's HI list, primary diagnosis first."""
    return tuple(range(1, min(len(diagnoses), MAX_POINTERS) + 1))


def telehealth_place_of_service(facts: EncounterFacts) -> tuple[str, list[str]]:
    """The POS to bill: telehealth needs 02 or 10; anything else is corrected to 02."""
    if not facts.telehealth or facts.place_of_service in TELEHEALTH_POS:
        return facts.place_of_service, []
    return "02", [
        f"telehealth encounter documented with POS {facts.place_of_service}; billed as POS 02"
    ]


def telehealth_modifiers(facts: EncounterFacts, audio_only_modifier: str) -> tuple[str, ...]:
    """95 for audio-video; the payer's audio-only modifier (93 or FQ) without video; never both."""
    if not facts.telehealth:
        return ()
    if facts.audio_only:
        if audio_only_modifier not in AUDIO_ONLY_MODIFIERS:
            raise ValueError(f"audio-only modifier {audio_only_modifier!r} is not 93 or FQ")
        return (audio_only_modifier,)
    return (TELEHEALTH_MODIFIER,)


def code_encounter(
    facts: EncounterFacts, audio_only_modifier: str = DEFAULT_AUDIO_ONLY_MODIFIER
) -> Coding:
    """All charge lines a signed encounter earns (``audio_only_modifier``: the payer's)."""
    if facts.signed_at is None:
        return Coding(lines=(), notes=("note is not signed: nothing is billable",))
    notes: list[str] = []
    pos, pos_notes = telehealth_place_of_service(facts)
    notes += pos_notes
    pointers = diagnosis_pointers(facts.diagnoses)
    if not pointers:
        notes.append("no ICD-10 diagnosis documented: lines are held until one is added")
    modifiers = telehealth_modifiers(facts, audio_only_modifier)
    rendering = _primary_clinician(facts)
    lines: list[ChargeLine] = []

    def add(
        key: str,
        cpt: str,
        units: int,
        who: Clinician | None,
        minutes: int | None,
        hold: str | None = None,
    ) -> None:
        lines.append(
            ChargeLine(
                key=key,
                cpt=cpt,
                units=units,
                modifiers=modifiers,
                place_of_service=pos,
                diagnosis_pointers=pointers,
                rendering_staff_id=who.staff_id if who else None,
                rendering_npi=who.npi if who else None,
                minutes=minutes,
                hold=hold,
            )
        )

    minutes = facts.psychotherapy_minutes
    if facts.kind == "intake":
        add("diagnostic-evaluation", "90791", 1, rendering, minutes)
    elif facts.kind == "family":
        code = family_psychotherapy_code(minutes, facts.with_patient_present)
        if code:
            add("family-psychotherapy", code, 1, rendering, minutes)
        elif minutes is None:
            # The session happened; only its time is missing: a held charge, not nothing.
            base = "90847" if facts.with_patient_present else "90846"
            add("family-psychotherapy", base, 1, rendering, None, NO_PSYCHOTHERAPY_MINUTES)
            notes.append(NO_PSYCHOTHERAPY_MINUTES)
        else:
            notes.append(f"family psychotherapy of {minutes or 0} min: 26 min are needed")
    elif facts.kind == "group":
        add("group-psychotherapy", "90853", 1, rendering, minutes)
    elif facts.kind in PSYCHOTHERAPY_KINDS:
        code = psychotherapy_code(minutes)
        if code:
            add("psychotherapy", code, 1, rendering, minutes)
        elif minutes is None:
            # Held under the shortest code until an addendum documents the minutes; the
            # addendum's revision reverses it and captures the right code.
            add("psychotherapy", "90832", 1, rendering, None, NO_PSYCHOTHERAPY_MINUTES)
            notes.append(NO_PSYCHOTHERAPY_MINUTES)
        else:
            notes.append(f"psychotherapy of {minutes or 0} min: 16 min are needed")
    elif facts.kind == "dosing" and minutes:
        # 0820T's descriptor includes intervention "(eg, psychotherapy, crisis intervention)":
        # billing 9083x for the same session would bill the same time twice.
        notes.append("psychotherapy during a dosing session is included in 0820T-0822T")

    monitoring, monitoring_notes = _monitoring_lines(facts, pos, pointers)
    lines += monitoring
    notes += monitoring_notes
    return Coding(lines=tuple(lines), notes=tuple(notes))


def _primary_clinician(facts: EncounterFacts) -> Clinician | None:
    for clinician in facts.clinicians:
        if clinician.monitoring_role in (None, "first"):
            return clinician
    return facts.clinicians[0] if facts.clinicians else None


def _monitoring_lines(
    facts: EncounterFacts, pos: str, pointers: tuple[int, ...]
) -> tuple[list[ChargeLine], list[str]]:
    """0820T/0821T/0822T (CPT Category III, effective 2024-01-01).

    0820T: continuous in-person monitoring during psychedelic medication therapy,
    first physician/QHP, each hour. 0821T: second concurrent physician/QHP, each
    hour, add-on. 0822T: concurrent clinical staff under direct supervision, each
    hour, add-on. Add-on codes are reported only with their primary code on the
    same date of service, so without a billable 0820T no add-on is billed.
    """
    monitors = [c for c in facts.clinicians if c.monitoring_role]
    if not monitors:
        return [], []
    if facts.telehealth:
        return [], ["psychedelic monitoring is in-person by definition: not billed for telehealth"]
    notes: list[str] = []
    monitors = _qualified_monitors(monitors, notes)

    def line(key: str, cpt: str, who: Clinician, cap: int | None = None) -> ChargeLine | None:
        return _monitoring_line(facts, key, cpt, who, (pos, pointers, cap), notes)

    firsts = [c for c in monitors if c.monitoring_role == "first"]
    primary = line("monitoring-first", MONITORING_PRIMARY, firsts[0]) if firsts else None
    if len(firsts) > 1:
        notes.append("more than one first monitoring clinician: only the first is billed 0820T")
    add_ons: list[ChargeLine] = []
    # One person is billed once (nobody is concurrent with themself), and 0821T describes
    # the *second* physician/QHP: a third has no code.
    billed = {firsts[0].staff_id} if firsts else set()
    for clinician in monitors:
        if clinician.monitoring_role == "second":
            cpt = MONITORING_SECOND
        elif clinician.monitoring_role == "staff":
            cpt = MONITORING_STAFF
        else:
            continue
        if clinician.staff_id in billed:
            notes.append(f"{clinician.staff_id} is already billed for this session's monitoring")
            continue
        if cpt == MONITORING_SECOND and any(a.cpt == MONITORING_SECOND for a in add_ons):
            notes.append(f"{clinician.staff_id}: only one second physician/QHP is billed (0821T)")
            continue
        billed.add(clinician.staff_id)
        add_on = line(
            f"monitoring-{clinician.monitoring_role}-{clinician.staff_id}",
            cpt,
            clinician,
            cap=primary.minutes if primary is not None else None,
        )
        if add_on:
            add_ons.append(add_on)
    if primary is None:
        if add_ons:
            notes.append(
                "add-on monitoring codes (0821T/0822T) need 0820T on the same date: not billed"
            )
        return [], notes
    return [primary, *add_ons], notes


def _qualified_monitors(monitors: list[Clinician], notes: list[str]) -> list[Clinician]:
    """The monitoring clinicians who may be billed in their role; a note for each who may not."""
    kept = []
    for clinician in monitors:
        if (
            clinician.monitoring_role in ("first", "second")
            and clinician.role not in QUALIFIED_PROFESSIONAL_ROLES
        ):
            notes.append(
                f"{clinician.staff_id} ({clinician.role}) is not a physician/QHP: "
                f"cannot be billed as the {clinician.monitoring_role} monitoring professional"
            )
        else:
            kept.append(clinician)
    return kept


def _monitoring_line(
    facts: EncounterFacts,
    key: str,
    cpt: str,
    who: Clinician,
    where: tuple[str, tuple[int, ...], int | None],
    notes: list[str],
) -> ChargeLine | None:
    """One monitoring line for ``who`` (``where``: place of service, diagnosis pointers
    and the add-on's cap in minutes), or None with a note when under one unit."""
    pos, pointers, cap = where
    minutes = who.minutes if who.minutes is not None else facts.monitoring_minutes
    if cap is not None and minutes is not None and minutes > cap:
        # 0821T/0822T are *concurrent* with the first professional: time beyond the
        # first's monitoring time is not concurrent and is not billable as an add-on.
        notes.append(
            f"{cpt} for {who.staff_id}: {minutes} min counted as {cap} min, "
            "the first clinician's monitoring time (add-on time is concurrent time)"
        )
        minutes = cap
    units = monitoring_units(minutes)
    if units == 0:
        notes.append(f"{cpt} for {who.staff_id}: {minutes or 0} min is under one unit (31)")
        return None
    return ChargeLine(
        key=key,
        cpt=cpt,
        units=units,
        modifiers=(),
        place_of_service=pos,
        diagnosis_pointers=pointers,
        rendering_staff_id=who.staff_id,
        rendering_npi=who.npi,
        minutes=minutes,
    )


def add_ons_have_primary(lines: list[tuple[date, str]]) -> bool:
    """Claim-level check: every 0821T/0822T date of service also has an 0820T."""
    primary_dates = {d for d, cpt in lines if cpt == MONITORING_PRIMARY}
    return all(d in primary_dates for d, cpt in lines if cpt in MONITORING_ADD_ONS)
