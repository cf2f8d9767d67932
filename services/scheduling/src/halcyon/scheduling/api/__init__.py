"""Scheduling HTTP API: one router per area."""

from halcyon.scheduling.api import (
    appointments,
    calendars,
    clients,
    reports,
    search,
    waitlist,
)

routers = [
    clients.router,
    calendars.router,
    appointments.router,
    search.router,
    waitlist.router,
    reports.router,
]
