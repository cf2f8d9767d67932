"""Scheduling service wiring."""

from __future__ import annotations

import asyncio
import logging

from halcyon.scheduling import api, handlers
from halcyon.scheduling.settings import SchedulingSettings
from halcyon.scheduling.store import (
    Appointments,
    AppointmentTypes,
    Authorizations,
    Availability,
    ClientDirectory,
    Consents,
    GroupSessions,
    Rooms,
    Screenings,
    Series,
    SiteCalendars,
    SlotClaims,
    StaffDirectory,
    TimeOff,
    Waitlist,
)
from halcyon.scheduling.usecases.booking import Scheduler
from halcyon.shared.contracts.scheduling import (
    AppointmentChanged,
    DosingSessionFlagged,
    WaitlistOfferMade,
)
from halcyon.shared.service import ServiceRuntime, ServiceWiring, create_service_app

log = logging.getLogger("halcyon.scheduling")
settings = SchedulingSettings()


async def sweep_waitlist_offers(runtime: ServiceRuntime) -> None:
    """Expire offers nobody took in time, so the next cancellation can offer again."""
    scheduler = Scheduler(runtime)
    while True:
        await asyncio.sleep(settings.waitlist_sweep_seconds)
        try:
            expired = await scheduler.expire_offers()
            if expired:
                log.info("expired %d waitlist offer(s)", expired)
        except Exception:
            log.exception("waitlist sweep failed; will retry")


wiring = ServiceWiring(
    title="Halcyon scheduling",
    description="Calendars, rooms, appointments, waitlist and psychedelic-protocol gating.",
    routers=api.routers,
    repositories=[
        ClientDirectory,
        SiteCalendars,
        StaffDirectory,
        Consents,
        Screenings,
        Authorizations,
        Rooms,
        AppointmentTypes,
        Availability,
        TimeOff,
        Appointments,
        Series,
        GroupSessions,
        Waitlist,
        SlotClaims,
    ],
    publishes=[AppointmentChanged, WaitlistOfferMade, DosingSessionFlagged],
    handlers=handlers.register,
    on_start=[sweep_waitlist_offers],
)

app = create_service_app(settings, wiring)
