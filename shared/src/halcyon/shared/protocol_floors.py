"""The minimums each psychedelic-therapy protocol's source sets (docs/adr/0404).

One table read by scheduling (appointment types may not go below it), inventory
(a dose needs the clinicians the protocol puts in the room) and clinical (the
monitoring a dosing note must show). An agency may tighten any of these in its own
configuration; nothing it configures may loosen them.

Sources, each value's why:

- ``mdma-ptsd``: MAPS/Lykos MAPP1 and MAPP2 phase 3 protocols (MDMA-assisted therapy
  for PTSD): a co-therapy dyad of two therapists present for the whole ~8-hour
  session, at least one licensed; three 90-minute preparation sessions before the
  first dosing session; dosing sessions 3-5 weeks apart.
- ``esketamine-trd``: SPRAVATO REMS (FDA, 2019-; 2025 modification): given in a
  REMS-certified healthcare setting, self-administered under the direct observation
  of a healthcare provider, monitored for at least 2 hours; blood pressure before the
  dose, ~40 minutes after it and before discharge; the Patient Monitoring Form within
  7 days.
- ``psilocybin-trd``: supervised psilocybin (Oregon OAR 333-333 adult-use service
  centers; COMP360 research protocols): a facilitator/therapist present for the whole
  administration session, at least one preparation session before it, about 6 hours
  of monitoring.
- ``ketamine-trd``: off-label racemic ketamine (APA consensus statement, Sanacora et
  al., JAMA Psychiatry 2017): a clinician able to manage airway and cardiovascular
  events present, blood pressure monitored, observed until recovered (at least
  60 minutes here). Scheduling and documentation only: inventory has no dose rules.
"""

from __future__ import annotations

from dataclasses import dataclass

BpCheck = str  # "pre_dose" | "post_dose_40min" | "discharge"


@dataclass(frozen=True)
class ProtocolFloor:
    protocol_id: str
    name: str
    source: str
    substance: str
    # Clinicians of ``clinician_role`` booked for and present during the dosing session.
    clinicians_present: int
    clinician_role: str
    # How many of them hold an active licence on the day.
    licensed_clinicians: int
    preparation_sessions: int
    # Shortest dosing appointment and shortest monitoring after the dose.
    dosing_minutes: int
    monitoring_minutes: int
    min_days_between_dosing: int
    # The room attribute a dosing room must have (certified setting, dosing room).
    room_attribute: str
    bp_checks: tuple[BpCheck, ...] = ()
    monitoring_form_due_days: int | None = None
    # Minutes before an unacknowledged vitals/safety alert escalates to on-call staff.
    alert_escalation_minutes: int = 5


FLOORS: dict[str, ProtocolFloor] = {
    f.protocol_id: f
    for f in (
        ProtocolFloor(
            protocol_id="mdma-ptsd",
            name="MDMA-assisted therapy for PTSD",
            source="MAPS/Lykos MAPP1-MAPP2 phase 3 protocol",
            substance="MDMA",
            clinicians_present=2,
            clinician_role="therapist",
            licensed_clinicians=1,
            preparation_sessions=3,
            dosing_minutes=8 * 60,
            monitoring_minutes=8 * 60,
            min_days_between_dosing=21,
            room_attribute="dosing_room",
        ),
        ProtocolFloor(
            protocol_id="esketamine-trd",
            name="Esketamine (SPRAVATO) under the REMS",
            source="SPRAVATO REMS (FDA)",
            substance="esketamine",
            clinicians_present=1,
            clinician_role="therapist",
            licensed_clinicians=1,
            preparation_sessions=0,
            dosing_minutes=2 * 60,
            monitoring_minutes=2 * 60,
            min_days_between_dosing=0,
            room_attribute="rems_certified",
            bp_checks=("pre_dose", "post_dose_40min", "discharge"),
            monitoring_form_due_days=7,
        ),
        ProtocolFloor(
            protocol_id="psilocybin-trd",
            name="Supervised psilocybin (adult-use service / research protocol)",
            source="Oregon OAR 333-333; COMP360 research protocol",
            substance="psilocybin",
            clinicians_present=1,
            clinician_role="therapist",
            licensed_clinicians=0,
            preparation_sessions=1,
            dosing_minutes=6 * 60,
            monitoring_minutes=6 * 60,
            min_days_between_dosing=0,
            room_attribute="dosing_room",
        ),
        ProtocolFloor(
            protocol_id="ketamine-trd",
            name="Ketamine (off-label) for treatment-resistant depression",
            source="APA consensus statement (Sanacora et al., 2017)",
            substance="ketamine",
            clinicians_present=1,
            clinician_role="therapist",
            licensed_clinicians=1,
            preparation_sessions=0,
            dosing_minutes=60,
            monitoring_minutes=60,
            min_days_between_dosing=0,
            room_attribute="dosing_room",
            bp_checks=("pre_dose", "discharge"),
        ),
    )
}


def floor_of(protocol_id: str | None) -> ProtocolFloor | None:
    return FLOORS.get(protocol_id) if protocol_id else None
