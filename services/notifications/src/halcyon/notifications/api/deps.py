"""What notifications' routes take: the typed runtime, its parts, repositories."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from halcyon.notifications import store
from halcyon.notifications.clock import ServiceClock
from halcyon.notifications.parts import NotificationsRuntime
from halcyon.notifications.usecases.delivery import DeliveryWorker
from halcyon.shared.http.pagination import PageParams, page_params
from halcyon.shared.service import repository, runtime_of


def notifications_runtime(request: Request) -> NotificationsRuntime:
    runtime: NotificationsRuntime = runtime_of(request)
    return runtime


Runtime = Annotated[NotificationsRuntime, Depends(notifications_runtime)]


def _clock(runtime: Runtime) -> ServiceClock:
    return runtime.parts.clock


def _worker(runtime: Runtime) -> DeliveryWorker:
    return runtime.parts.worker


Clock = Annotated[ServiceClock, Depends(_clock)]
Worker = Annotated[DeliveryWorker, Depends(_worker)]
Page = Annotated[PageParams, Depends(page_params)]

InboxRepo = Annotated[store.Inbox, repository(store.Inbox)]
ContactsRepo = Annotated[store.ClientContacts, repository(store.ClientContacts)]
ClientPrefsRepo = Annotated[store.ClientPreferencesStore, repository(store.ClientPreferencesStore)]
StaffPrefsRepo = Annotated[store.StaffPreferencesStore, repository(store.StaffPreferencesStore)]
DeliveriesRepo = Annotated[store.Deliveries, repository(store.Deliveries)]
DeadRepo = Annotated[store.DeadDeliveries, repository(store.DeadDeliveries)]
RemindersRepo = Annotated[store.Reminders, repository(store.Reminders)]
TemplatesRepo = Annotated[store.AgencyTemplates, repository(store.AgencyTemplates)]
