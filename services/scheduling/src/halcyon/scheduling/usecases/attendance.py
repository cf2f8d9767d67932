"""Attendance dashboard from scheduling's own appointments collection."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from halcyon.scheduling import store
from halcyon.scheduling.domain.attendance import attendance
from halcyon.shared.calendar import require_period
from halcyon.shared.errors import RuleViolation

MAX_DAYS = 366


async def attendance_report(
    appointments: store.Appointments, tenant: str, site_id: str, start: date, end: date
) -> dict[str, Any]:
    require_period(start, end)
    if (end - start).days >= MAX_DAYS:
        raise RuleViolation(f"a report covers at most {MAX_DAYS} days")
    # Site-local days span at most ±14 h of UTC: load a day either side, the domain keeps
    # exactly the local days asked for.
    lower = datetime.combine(start - timedelta(days=1), time.min, UTC)
    upper = datetime.combine(end + timedelta(days=2), time.min, UTC)
    found = await appointments.find(
        tenant, {"site_id": site_id, "starts_at": {"$gte": lower, "$lt": upper}}
    )
    return {"site_id": site_id, **attendance(found, start, end)}
