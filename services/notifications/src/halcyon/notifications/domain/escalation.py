"""Urgent alerts reach the people in the room first (issue 18, item 7).

A vitals or safety alert about a client who is in a live session (checked in or
started) goes to that session's clinicians; if none of them acknowledges it within the
protocol's minutes it escalates to the site's on-call staff. With no live session it
goes to on-call staff at once, as before. Pure rules; the use case does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from halcyon.notifications.domain.recipients import StaffMember, urgent_alert_recipients
from halcyon.shared.protocol_floors import floor_of

LIVE_SESSION = frozenset({"checked_in", "started"})
DEFAULT_ESCALATION_MINUTES = 5


def live_session(sessions: Iterable[Mapping[str, Any]], site_id: str) -> Mapping[str, Any] | None:
    """The client's session in progress at the site (the latest to start), if any."""
    live = [s for s in sessions if s.get("status") in LIVE_SESSION and s.get("site_id") == site_id]
    return max(live, key=lambda s: s["starts_at"]) if live else None


def escalation_minutes(session: Mapping[str, Any]) -> int:
    floor = floor_of(session.get("protocol_id"))
    return floor.alert_escalation_minutes if floor else DEFAULT_ESCALATION_MINUTES


def first_recipients(
    staff: Sequence[StaffMember], session: Mapping[str, Any] | None, site_id: str
) -> tuple[list[StaffMember], bool]:
    """Whom to tell first, and whether an escalation must be armed (a session team)."""
    if session is not None:
        team = set(session.get("clinician_ids") or [])
        members = [m for m in staff if m.staff_id in team and m.active]
        if members:
            return members, True
    return urgent_alert_recipients(list(staff), site_id), False


def escalation_due(raised_at: datetime, minutes: int) -> datetime:
    return raised_at + timedelta(minutes=minutes)


def escalation_targets(
    staff: Sequence[StaffMember], site_id: str, team: Iterable[str]
) -> list[StaffMember]:
    """On-call staff who were not already told (the team saw it and did not answer)."""
    already = set(team)
    return [m for m in urgent_alert_recipients(list(staff), site_id) if m.staff_id not in already]
