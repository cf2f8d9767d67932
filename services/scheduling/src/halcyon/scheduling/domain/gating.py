"""Protocol gating: may this client have this session with these clinicians, now?

Pure rules over facts the service gathered from its read models (clinical's
consents and screenings, identity's staff files, its own appointments). Every
failed condition is reported — a refusal names exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from halcyon.scheduling.domain.catalog import AppointmentType, ProtocolRules
from halcyon.shared.protocol_floors import ProtocolFloor


@dataclass(frozen=True)
class FailedCondition:
    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class ConsentFact:
    kind: str
    protocol_id: str | None
    status: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ScreeningFact:
    protocol_id: str
    eligible: bool
    signed_at: datetime


@dataclass(frozen=True)
class LicenceFact:
    type: str
    expires_on: date


@dataclass(frozen=True)
class ClinicianFact:
    staff_id: str
    known: bool = True
    active: bool = True
    roles_at_site: frozenset[str] = frozenset()
    licences: tuple[LicenceFact, ...] = ()

    def licensed_on(self, day: date) -> bool:
        return any(lic.expires_on >= day for lic in self.licences)


@dataclass(frozen=True)
class ClientProtocolFacts:
    consents: Sequence[ConsentFact] = ()
    screenings: Sequence[ScreeningFact] = ()
    # Starts of the client's completed preparation sessions for the protocol.
    completed_preparations: Sequence[datetime] = ()
    # Starts of the client's other live (not cancelled / no-show) dosing sessions.
    other_dosing_sessions: Sequence[datetime] = field(default_factory=tuple)


def check_clinicians(
    kind: AppointmentType,
    requested: Sequence[tuple[str, str]],
    facts: dict[str, ClinicianFact],
    site_id: str,
    on: date,
) -> list[FailedCondition]:
    """Roles and counts the type needs, and the licences it needs, on the session's date."""
    failed: list[FailedCondition] = []
    ids = [staff_id for staff_id, _ in requested]
    if len(set(ids)) != len(ids):
        failed.append(FailedCondition("clinicians_distinct", "a clinician is listed twice"))
    for requirement in kind.required_roles:
        given = sum(1 for _, role in requested if role == requirement.role)
        if given != requirement.count:
            failed.append(
                FailedCondition(
                    "clinician_count",
                    f"{kind.code} needs {requirement.count} {requirement.role}(s); {given} given",
                )
            )
    wanted_roles = {r.role for r in kind.required_roles}
    for staff_id, role in requested:
        fact = facts.get(staff_id)
        if fact is None or not fact.known:
            failed.append(
                FailedCondition("clinician_unknown", f"staff member {staff_id} is not known")
            )
            continue
        if not fact.active:
            failed.append(
                FailedCondition("clinician_inactive", f"staff member {staff_id} is inactive")
            )
        if role not in wanted_roles:
            failed.append(
                FailedCondition("clinician_role", f"{kind.code} has no place for a {role}")
            )
        elif role not in fact.roles_at_site:
            failed.append(
                FailedCondition(
                    "clinician_role", f"staff member {staff_id} is not a {role} at site {site_id}"
                )
            )
    if kind.licensed_clinicians_required:
        licensed = [
            s for s, _ in requested if (f := facts.get(s)) is not None and f.licensed_on(on)
        ]
        if len(licensed) < kind.licensed_clinicians_required:
            failed.append(
                FailedCondition(
                    "clinician_licence",
                    f"{kind.code} needs {kind.licensed_clinicians_required} clinician(s) with "
                    f"a licence active on {on.isoformat()}; {len(licensed)} have one",
                )
            )
    return failed


def check_protocol(
    kind: AppointmentType,
    protocol: ProtocolRules,
    facts: ClientProtocolFacts,
    starts_at: datetime,
) -> list[FailedCondition]:
    """The client-side conditions of a protocol step (today: the dosing session)."""
    if kind.protocol_step != "dosing":
        return []
    failed: list[FailedCondition] = []
    pid = protocol.protocol_id
    consented = any(
        c.kind == protocol.consent_kind
        and c.protocol_id == pid
        and c.status == "active"
        and (c.expires_at is None or c.expires_at > starts_at)
        for c in facts.consents
    )
    if not consented:
        failed.append(
            FailedCondition(
                "informed_consent",
                f"no active signed {protocol.consent_kind} consent for protocol {pid}",
            )
        )
    screenings = sorted(
        (s for s in facts.screenings if s.protocol_id == pid), key=lambda s: s.signed_at
    )
    if not screenings:
        failed.append(FailedCondition("eligible_screening", f"no screening for protocol {pid}"))
    elif not screenings[-1].eligible:
        failed.append(
            FailedCondition(
                "eligible_screening", f"the latest screening for protocol {pid} is not eligible"
            )
        )
    done = sum(1 for s in facts.completed_preparations if s < starts_at)
    if done < protocol.preparation_sessions_required:
        failed.append(
            FailedCondition(
                "preparation_sessions",
                f"{protocol.preparation_sessions_required} completed preparation sessions "
                f"needed before dosing; {done} completed",
            )
        )
    gap = timedelta(days=protocol.min_days_between_dosing)
    too_close = [s for s in facts.other_dosing_sessions if abs(s - starts_at) < gap]
    if too_close:
        failed.append(
            FailedCondition(
                "dosing_interval",
                f"dosing sessions must be at least {protocol.min_days_between_dosing} days "
                f"apart; another is on {min(too_close).date().isoformat()}",
            )
        )
    return failed


def integration_proposals(protocol: ProtocolRules, dosing_start: datetime) -> list[datetime]:
    """Integration sessions to propose after a dosing session (same wall-clock hour)."""
    offsets = list(protocol.integration_offsets_days)[: protocol.integration_sessions_after_dosing]
    while len(offsets) < protocol.integration_sessions_after_dosing:
        offsets.append((offsets[-1] if offsets else 0) + 7)
    return [dosing_start + timedelta(days=d) for d in offsets]


# -- protocol floors (docs/adr/0404) --------------------------------------------------


def type_below_floor(kind: AppointmentType, floor: ProtocolFloor | None) -> list[FailedCondition]:
    """What an appointment type would loosen below its protocol's published minimums.

    Only the dosing step carries floors; preparation and integration types are the
    agency's to shape."""
    if floor is None or kind.protocol_step != "dosing":
        return []
    failed: list[FailedCondition] = []
    role = floor.clinician_role
    given = sum(r.count for r in kind.required_roles if r.role == role)
    if given < floor.clinicians_present:
        failed.append(
            FailedCondition(
                "floor_clinicians",
                f"{floor.name} needs at least {floor.clinicians_present} {role}(s) in the room "
                f"({floor.source}); {kind.code} has {given}",
            )
        )
    if kind.licensed_clinicians_required < floor.licensed_clinicians:
        failed.append(
            FailedCondition(
                "floor_licensed_clinicians",
                f"{floor.name} needs at least {floor.licensed_clinicians} licensed clinician(s) "
                f"({floor.source}); {kind.code} requires {kind.licensed_clinicians_required}",
            )
        )
    if kind.duration_minutes < floor.dosing_minutes:
        failed.append(
            FailedCondition(
                "floor_duration",
                f"{floor.name} sessions last at least {floor.dosing_minutes} min "
                f"({floor.source}); {kind.code} lasts {kind.duration_minutes}",
            )
        )
    if kind.telehealth or kind.room_attribute != floor.room_attribute:
        failed.append(
            FailedCondition(
                "floor_room",
                f"{floor.name} is given in a room with {floor.room_attribute} "
                f"({floor.source}); {kind.code} has {kind.room_attribute or 'none'}",
            )
        )
    return failed


def type_keeps_protocol(
    kind: AppointmentType, default: AppointmentType | None
) -> list[FailedCondition]:
    """A shipped protocol type keeps its protocol and step: otherwise an agency could
    take ``mdma_dosing`` out of its protocol (or its dosing step) and every floor with it."""
    if default is None or default.protocol_id is None:
        return []
    if (kind.protocol_id, kind.protocol_step) == (default.protocol_id, default.protocol_step):
        return []
    return [
        FailedCondition(
            "floor_protocol",
            f"{default.code} is the {default.protocol_step} type of protocol "
            f"{default.protocol_id}; its protocol and step cannot change",
        )
    ]


def protocol_below_floor(
    protocol: ProtocolRules, floor: ProtocolFloor | None
) -> list[FailedCondition]:
    """Protocol rules that would loosen the source's preparation or interval minimums."""
    if floor is None:
        return []
    failed: list[FailedCondition] = []
    if protocol.preparation_sessions_required < floor.preparation_sessions:
        failed.append(
            FailedCondition(
                "floor_preparation_sessions",
                f"{floor.name} needs at least {floor.preparation_sessions} preparation "
                f"session(s) ({floor.source}); {protocol.preparation_sessions_required} set",
            )
        )
    if protocol.min_days_between_dosing < floor.min_days_between_dosing:
        failed.append(
            FailedCondition(
                "floor_dosing_interval",
                f"{floor.name} dosing sessions are at least {floor.min_days_between_dosing} "
                f"days apart ({floor.source}); {protocol.min_days_between_dosing} set",
            )
        )
    return failed


def check_presence(
    kind: AppointmentType,
    floor: ProtocolFloor | None,
    booked: Sequence[tuple[str, str]],
    present: Sequence[str],
    facts: dict[str, ClinicianFact],
    on: date,
) -> list[FailedCondition]:
    """Who is in the room when the session starts: the booked clinicians the type (and,
    never fewer, the protocol) needs, present, active, and enough of them licensed."""
    if kind.protocol_step != "dosing":
        return []
    failed: list[FailedCondition] = []
    here = [(s, r) for s, r in booked if s in set(present)]
    active_here = [(s, r) for s, r in here if (f := facts.get(s)) is not None and f.active]
    needs: dict[str, int] = {r.role: r.count for r in kind.required_roles}
    if floor is not None:
        role = floor.clinician_role
        needs[role] = max(needs.get(role, 0), floor.clinicians_present)
    for role, count in sorted(needs.items()):
        given = sum(1 for _, r in active_here if r == role)
        if given < count:
            failed.append(
                FailedCondition(
                    "clinicians_present",
                    f"{kind.code} needs {count} {role}(s) present; {given} checked in",
                )
            )
    licensed_needed = max(
        kind.licensed_clinicians_required, floor.licensed_clinicians if floor else 0
    )
    licensed = sum(1 for s, _ in active_here if facts[s].licensed_on(on))
    if licensed < licensed_needed:
        failed.append(
            FailedCondition(
                "clinician_licence",
                f"{kind.code} needs {licensed_needed} licensed clinician(s) present with a "
                f"licence active on {on.isoformat()}; {licensed} present",
            )
        )
    return failed


def check_in_presence(
    kind: AppointmentType,
    floor: ProtocolFloor | None,
    booked: Sequence[tuple[str, str]],
    present: Sequence[str],
    facts: dict[str, ClinicianFact],
    on: date,
) -> list[FailedCondition]:
    """Who checks a dosing session in: not yet the whole team (it is complete by the
    start), but everyone present active, and the licensed clinicians the protocol needs
    among them; inventory doses a checked-in session, so these cannot wait for the start."""
    if kind.protocol_step != "dosing":
        return []
    here = set(present)
    failed = [
        FailedCondition("clinician_inactive", f"staff member {s} is not active at this site")
        for s, _ in booked
        if s in here and ((f := facts.get(s)) is None or not f.active)
    ]
    failed += [
        f
        for f in check_presence(kind, floor, booked, present, facts, on)
        if f.code == "clinician_licence"
    ]
    return failed


def check_monitoring(
    kind: AppointmentType, floor: ProtocolFloor | None, started_at: datetime | None, now: datetime
) -> list[FailedCondition]:
    """A dosing session is not completed (the client discharged) before the protocol's
    minimum monitoring has passed since it started (SPRAVATO REMS: at least 2 hours)."""
    if floor is None or kind.protocol_step != "dosing" or started_at is None:
        return []
    minutes = (now - started_at).total_seconds() / 60
    if minutes >= floor.monitoring_minutes:
        return []
    return [
        FailedCondition(
            "monitoring_minutes",
            f"{floor.name} monitors the client at least {floor.monitoring_minutes} min "
            f"({floor.source}); {minutes:.0f} min since the session started",
        )
    ]
