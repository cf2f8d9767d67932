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
