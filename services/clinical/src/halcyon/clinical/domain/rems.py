"""The SPRAVATO REMS Patient Monitoring Form: due within 7 days of the session.

Days are the site's local days: a session on a Denver Monday evening is due by the
end of the following Monday in Denver, whatever the UTC date. Reminders go out two
days before the due day starts, and once more when it has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from halcyon.shared.calendar import site_day

REMIND_BEFORE = timedelta(days=2)


@dataclass(frozen=True)
class FormDeadline:
    session_on: date
    due_on: date
    due_at: datetime  # the end of ``due_on`` in the site's zone (an instant)


def form_deadline(session_ended_at: datetime, site_timezone: str, due_days: int) -> FormDeadline:
    session_on = site_day(session_ended_at, site_timezone)
    due_on = session_on + timedelta(days=due_days)
    end_of_day = datetime.combine(
        due_on + timedelta(days=1), time(0), tzinfo=ZoneInfo(site_timezone)
    )
    return FormDeadline(session_on, due_on, end_of_day)


def stages_due(deadline_at: datetime, now: datetime, sent: list[str]) -> list[str]:
    """Reminder stages that have come and were not sent yet, oldest first."""
    due: list[str] = []
    if now >= deadline_at - REMIND_BEFORE and "due_soon" not in sent and now < deadline_at:
        due.append("due_soon")
    if now >= deadline_at and "overdue" not in sent:
        due.append("overdue")
    return due
