"""Scheduling's event handlers: read models fed by other contexts.

Every handler stores the state the event transfers under the aggregate's id through
``TenantRepository.project``: applying the same event twice changes nothing, and a late,
older event never overwrites a newer state.
"""

from __future__ import annotations

import contextlib

from halcyon.scheduling.settings import SchedulingRuntime
from halcyon.scheduling.store import (
    Authorizations,
    ClientDirectory,
    Consents,
    Screenings,
    SiteCalendars,
    StaffDirectory,
)
from halcyon.scheduling.usecases.booking import Scheduler
from halcyon.scheduling.usecases.gating import flag_future_dosing
from halcyon.shared.contracts.billing import AuthorizationChanged
from halcyon.shared.contracts.clinical import ClientRegistered, ConsentChanged, ScreeningCompleted
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.mongo import DuplicateRecord


def register(consumer: EventConsumer, runtime: SchedulingRuntime) -> None:
    clients = runtime.repo(ClientDirectory)
    sites = runtime.repo(SiteCalendars)
    staff = runtime.repo(StaffDirectory)
    consents = runtime.repo(Consents)
    screenings = runtime.repo(Screenings)
    authorizations = runtime.repo(Authorizations)

    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        await clients.project(
            delivery.envelope.tenantid,
            event.client_id,
            {
                "home_site_id": event.home_site_id,
                "display_name": f"{event.given_name} {event.family_name}",
                "date_of_birth": event.date_of_birth.isoformat(),
                "preferred_language": event.preferred_language,
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(SiteChanged)
    async def site_changed(event: SiteChanged, delivery: Delivery) -> None:
        # Only identity's fields: the opening hours scheduling owns stay untouched.
        await sites.project(
            delivery.envelope.tenantid,
            event.site_id,
            {
                "name": event.name,
                "timezone": event.timezone,
                "active": event.active,
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(StaffMemberChanged)
    async def staff_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        await staff.project(
            delivery.envelope.tenantid,
            event.staff_id,
            {
                "display_name": event.display_name,
                "active": event.active,
                "roles": event.roles,
                # Flat "site|role" strings: one indexed $in finds who can fill a role.
                "site_roles": sorted({f"{r.get('site')}|{r.get('role')}" for r in event.roles}),
                "licences": [
                    {
                        "type": lic.type,
                        "state": lic.state,
                        "expires_on": lic.expires_on.isoformat(),
                    }
                    for lic in event.licences
                ],
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(ConsentChanged)
    async def consent_changed(event: ConsentChanged, delivery: Delivery) -> None:
        # A revoked consent is final (signing again is a new consent): a late or
        # redelivered "active" for it must not re-enable the session. DuplicateRecord:
        # already revoked, so the upsert found nothing it may replace.
        with contextlib.suppress(DuplicateRecord):
            await consents.update(
                delivery.envelope.tenantid,
                {"_id": event.consent_id, "status": {"$ne": "revoked"}},
                {
                    "$set": {
                        "client_id": event.client_id,
                        "kind": event.kind,
                        "protocol_id": event.protocol_id,
                        "status": event.status,
                        "effective_at": event.effective_at,
                        "expires_at": event.expires_at,
                        "source_event_id": delivery.envelope.id,
                    }
                },
                upsert=True,
            )
        # A revoked consent puts the client's future dosing sessions in question now.
        await flag_future_dosing(Scheduler(runtime), delivery.envelope.tenantid, event.client_id)

    @consumer.handles(ScreeningCompleted)
    async def screening_completed(event: ScreeningCompleted, delivery: Delivery) -> None:
        await screenings.project(
            delivery.envelope.tenantid,
            event.screening_id,
            {
                "client_id": event.client_id,
                "protocol_id": event.protocol_id,
                "eligible": event.eligible,
                "signed_at": event.signed_at,
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )
        await flag_future_dosing(Scheduler(runtime), delivery.envelope.tenantid, event.client_id)

    @consumer.handles(AuthorizationChanged)
    async def authorization_changed(event: AuthorizationChanged, delivery: Delivery) -> None:
        await authorizations.project(
            delivery.envelope.tenantid,
            event.authorization_id,
            {
                "client_id": event.client_id,
                "cpt": event.cpt,
                "units_authorized": event.units_authorized,
                "units_used": event.units_used,
                "starts_on": event.starts_on.isoformat(),
                "ends_on": event.ends_on.isoformat(),
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )
