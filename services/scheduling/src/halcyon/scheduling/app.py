"""Scheduling service wiring."""

from __future__ import annotations

from halcyon.scheduling import api, handlers
from halcyon.scheduling.settings import SchedulingSettings
from halcyon.scheduling.store import ClientDirectory
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(
    title="Halcyon scheduling",
    description="Calendars, rooms, appointments and protocol gating.",
    routers=[api.router],
    repositories=[ClientDirectory],
    handlers=handlers.register,
)

app = create_service_app(SchedulingSettings(), wiring)
