"""What a booking asks for and what checking it decided: no I/O, only the rules.

A booking is planned (every rule checked) before anything is written; the plan names
the resources its claims hold (docs/adr/0400-scheduling-slot-claims.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from halcyon.scheduling.domain.calendar import WINDOW_SPANS, Block, Interval, blocks
from halcyon.scheduling.domain.catalog import AppointmentType, ProtocolRules
from halcyon.shared.errors import Conflict, RuleViolation

# Claims of a group session (its clinicians and room) are owned by the session.
GROUP_PREFIX = "group|"


class BookingRefused(RuleViolation):
    slug, title = "booking-refused", "The booking breaks a scheduling rule"


class SlotTaken(Conflict):
    slug, title = "slot-taken", "Someone or something needed is already booked then"


@dataclass(frozen=True)
class BookingRequest:
    client_id: str
    site_id: str
    appointment_type: str
    starts_at: datetime
    clinicians: tuple[tuple[str, str], ...]  # (staff_id, role)
    room_id: str | None = None


@dataclass
class BookingPlan:
    request: BookingRequest
    kind: AppointmentType
    protocol: ProtocolRules | None
    timezone: str
    interval: Interval
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def resources(self) -> list[str]:
        keys = [f"client:{self.request.client_id}"]
        keys += [f"clinician:{staff_id}" for staff_id, _ in self.request.clinicians]
        if self.request.room_id:
            keys.append(f"room:{self.request.room_id}")
        return keys


def dosing_window(plan: BookingPlan) -> tuple[str, list[Block]]:
    """The claim that makes the dosing interval race-free: each dosing session holds
    the N days from its own start (the instants the gating rule compares), so two
    sessions of one client fewer than N days apart hold overlapping blocks and only
    one can win."""
    if plan.protocol is None or plan.kind.protocol_step != "dosing":
        return "", []
    days = plan.protocol.min_days_between_dosing
    resource = f"dosing:{plan.request.client_id}:{plan.protocol.protocol_id}"
    if days <= 0:
        return resource, []
    start = plan.interval.start
    return resource, blocks(Interval(start, start + timedelta(days=days)), WINDOW_SPANS)


def group_session_id(tenant_id: str, plan: BookingPlan) -> str:
    """One group session per (type, start, room): clients booking the same ones join it."""
    place = plan.request.room_id or ",".join(sorted(s for s, _ in plan.request.clinicians))
    start = plan.interval.start.strftime("%Y%m%dT%H%M")
    return f"{GROUP_PREFIX}{tenant_id}|{plan.kind.code}|{start}|{place}"
