"""Notifications' own long-lived parts: the notifier (with the service's clock) and the
one delivery worker. Built once the repositories exist (``ServiceWiring.parts``); the
API, the handlers and the worker reach them as ``runtime.parts``."""

from __future__ import annotations

from dataclasses import dataclass

from halcyon.notifications.clock import ServiceClock
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.usecases.delivery import DeliveryWorker
from halcyon.notifications.usecases.notifier import Notifier
from halcyon.shared.service import ServiceRuntime


@dataclass(frozen=True)
class NotificationsParts:
    notifier: Notifier
    worker: DeliveryWorker

    @property
    def clock(self) -> ServiceClock:
        return self.notifier.clock


NotificationsRuntime = ServiceRuntime[NotificationsSettings, NotificationsParts]


def build_parts(runtime: NotificationsRuntime) -> NotificationsParts:
    settings = runtime.settings
    clock = ServiceClock(runtime.database, controllable=settings.test_clock_enabled)
    notifier = Notifier(runtime, settings, clock)
    return NotificationsParts(notifier, DeliveryWorker(runtime, settings, notifier))
