"""Notifications service wiring."""

from __future__ import annotations

from halcyon.notifications import api, handlers
from halcyon.notifications.parts import NotificationsParts, NotificationsRuntime, build_parts
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.store import REPOSITORIES
from halcyon.shared.contracts.notifications import DeliveryStatusChanged
from halcyon.shared.service import ServiceWiring, create_service_app

settings = NotificationsSettings()


async def run_worker(runtime: NotificationsRuntime) -> None:
    await runtime.parts.worker.run()


wiring: ServiceWiring[NotificationsSettings, NotificationsParts] = ServiceWiring(
    title="Halcyon notifications",
    description=(
        "Appointment confirmations and reminders, clinical and compliance alerts: email, "
        "SMS and the staff inbox, with consent, quiet hours, retries and no clinical "
        "details in messages to clients."
    ),
    routers=api.routers,
    repositories=REPOSITORIES,
    publishes=[DeliveryStatusChanged],
    parts=build_parts,
    handlers=handlers.register,
    on_start=[run_worker],
)

app = create_service_app(settings, wiring)
