"""Scheduling service wiring."""

from __future__ import annotations

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
from halcyon.scheduling.sweeps import sweep_waitlist_offers
from halcyon.shared.contracts.scheduling import (
    AppointmentChanged,
    DosingSessionFlagged,
    WaitlistOfferMade,
)
from halcyon.shared.service import ServiceWiring, create_service_app

settings = SchedulingSettings()

wiring: ServiceWiring[SchedulingSettings, None] = ServiceWiring(
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
