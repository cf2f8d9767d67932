"""The appointment lifecycle: which status changes are allowed, and late cancels."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from halcyon.shared.errors import Conflict

Status = Literal["booked", "checked_in", "started", "completed", "cancelled", "no_show"]
Change = Literal[
    "booked", "rescheduled", "cancelled", "checked_in", "started", "completed", "no_show"
]

# Statuses whose time is still held on calendars.
LIVE: frozenset[str] = frozenset({"booked", "checked_in", "started"})
# What each change requires the current status to be, and what it leads to.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "rescheduled": (frozenset({"booked"}), "booked"),
    "cancelled": (frozenset({"booked", "checked_in"}), "cancelled"),
    "checked_in": (frozenset({"booked"}), "checked_in"),
    "started": (frozenset({"checked_in"}), "started"),
    "completed": (frozenset({"started"}), "completed"),
    "no_show": (frozenset({"booked"}), "no_show"),
}


def next_status(current: str, change: str) -> str:
    allowed_from, target = TRANSITIONS[change]
    if current not in allowed_from:
        raise Conflict(
            f"cannot mark an appointment {change} while it is {current}",
            current_status=current,
            allowed_from=sorted(allowed_from),
        )
    return target


def is_late_cancel(starts_at: datetime, cancelled_at: datetime, policy_hours: int) -> bool:
    """Cancelled inside the agency's notice window (e.g. 24 h; 72 h for dosing sessions)."""
    return starts_at - cancelled_at < timedelta(hours=policy_hours)


def exceeds_authorization(
    units_authorized: int, units_used: int, units_scheduled: int, units_requested: int
) -> bool:
    return units_used + units_scheduled + units_requested > units_authorized
