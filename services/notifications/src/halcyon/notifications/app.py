"""Notifications service wiring."""

from __future__ import annotations

from halcyon.notifications import api, handlers
from halcyon.notifications.clock import ServiceClock
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.store import REPOSITORIES
from halcyon.notifications.usecases.delivery import DeliveryWorker
from halcyon.notifications.usecases.notifier import Notifier
from halcyon.shared.contracts.notifications import DeliveryStatusChanged
from halcyon.shared.kafka import EventConsumer
from halcyon.shared.service import ServiceRuntime, ServiceWiring, create_service_app

settings = NotificationsSettings()


def register(consumer: EventConsumer, runtime: ServiceRuntime) -> None:
    # Built here because this is the first hook that has the runtime; the API and the
    # worker reach these through runtime.extras.
    clock = ServiceClock(runtime.database, controllable=settings.test_clock_enabled)
    notifier = Notifier(runtime, settings, clock)
    runtime.extras["notifier"] = notifier
    runtime.extras["worker"] = DeliveryWorker(runtime, settings, notifier)
    handlers.register(consumer, runtime)


async def run_worker(runtime: ServiceRuntime) -> None:
    worker: DeliveryWorker = runtime.extras["worker"]
    await worker.run()


wiring = ServiceWiring(
    title="Halcyon notifications",
    description=(
        "Appointment confirmations and reminders, clinical and compliance alerts: email, "
        "SMS and the staff inbox, with consent, quiet hours, retries and no clinical "
        "details in messages to clients."
    ),
    routers=[api.router],
    repositories=REPOSITORIES,
    publishes=[DeliveryStatusChanged],
    handlers=register,
    on_start=[run_worker],
)

app = create_service_app(settings, wiring)
