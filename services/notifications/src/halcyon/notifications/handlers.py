"""Event rules: which events tell whom what, and the read models they need."""

from __future__ import annotations

from typing import Any

from halcyon.notifications.domain.recipients import (
    ALERT_ROLES,
    with_roles,
)
from halcyon.notifications.domain.reminders import ENDING_CHANGES, SCHEDULING_CHANGES
from halcyon.notifications.domain.sites import with_site_name
from halcyon.notifications.parts import NotificationsRuntime
from halcyon.notifications.store import ClientContacts, Reminders, SiteDirectory, StaffDirectory
from halcyon.notifications.usecases.alerts import raise_urgent, remember_session
from halcyon.notifications.usecases.reminders import end_reminders, schedule_reminders
from halcyon.shared.contracts.billing import ClaimStatusChanged
from halcyon.shared.contracts.clinical import (
    ClientRegistered,
    RemsMonitoringFormDue,
    SafetyAlertRaised,
    VitalsAlertRaised,
)
from halcyon.shared.contracts.identity import CredentialExpiring, SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.inventory import (
    ComplianceDeadlineDue,
    DiscrepancyOpened,
    StockLow,
)
from halcyon.shared.contracts.scheduling import (
    AppointmentChanged,
    DosingSessionFlagged,
    WaitlistOfferMade,
)
from halcyon.shared.kafka import Delivery, EventConsumer

CONFIRMATION_TEMPLATES = {
    "booked": "appointment_booked",
    "rescheduled": "appointment_rescheduled",
    "cancelled": "appointment_cancelled",
}


def register(consumer: EventConsumer, runtime: NotificationsRuntime) -> None:
    _read_models(consumer, runtime)
    _appointments(consumer, runtime)
    _clinical_alerts(consumer, runtime)
    _operational_alerts(consumer, runtime)


async def _named(
    runtime: NotificationsRuntime, tenant: str, context: dict[str, Any]
) -> dict[str, Any]:
    """The event's fields plus ``site_name`` for the message's words."""
    site_id = context.get("site_id")
    sites = runtime.repo(SiteDirectory)
    return with_site_name(context, await sites.get(tenant, site_id) if site_id else None)


def _read_models(consumer: EventConsumer, runtime: NotificationsRuntime) -> None:
    notifier = runtime.parts.notifier
    clients = runtime.repo(ClientContacts)
    staff = runtime.repo(StaffDirectory)
    sites = runtime.repo(SiteDirectory)

    # -- read models -------------------------------------------------------------------
    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        await clients.project(
            delivery.envelope.tenantid,
            event.client_id,
            {
                "given_name": event.given_name,
                "home_site_id": event.home_site_id,
                "email": event.email,
                "phone": event.phone,
                "timezone": event.timezone,
                "preferred_language": event.preferred_language,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )
        await notifier.release_parked(delivery.envelope.tenantid, event.client_id)

    @consumer.handles(SiteChanged)
    async def site_changed(event: SiteChanged, delivery: Delivery) -> None:
        await sites.project(
            delivery.envelope.tenantid,
            event.site_id,
            {"name": event.name, "timezone": event.timezone, "active": event.active},
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(StaffMemberChanged)
    async def staff_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        # State transfer: the whole personnel file every time.
        await staff.project(
            delivery.envelope.tenantid,
            event.staff_id,
            {
                "display_name": event.display_name,
                "email": event.email,
                "roles": event.roles,
                "on_call_sites": event.on_call_sites,
                "active": event.active,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )


def _appointments(consumer: EventConsumer, runtime: NotificationsRuntime) -> None:
    notifier = runtime.parts.notifier
    reminders = runtime.repo(Reminders)

    @consumer.handles(AppointmentChanged)
    async def appointment_changed(event: AppointmentChanged, delivery: Delivery) -> None:
        tenant = delivery.envelope.tenantid
        await remember_session(runtime, tenant, event)
        if event.change in SCHEDULING_CHANGES:
            await schedule_reminders(reminders, tenant, event, notifier.clock.now())
        elif event.change in ENDING_CHANGES:
            await end_reminders(reminders, tenant, event)
        template = CONFIRMATION_TEMPLATES.get(event.change)
        if template:
            await notifier.notify_client(
                tenant,
                cause_id=delivery.envelope.id,
                rule=f"appointment_{event.change}",
                template=template,
                client_id=event.client_id,
                appointment_type=event.appointment_type,
                when=event.starts_at,
                site_timezone=event.site_timezone,
            )

    @consumer.handles(WaitlistOfferMade)
    async def waitlist_offer(event: WaitlistOfferMade, delivery: Delivery) -> None:
        await notifier.notify_client(
            delivery.envelope.tenantid,
            cause_id=delivery.envelope.id,
            rule="waitlist_offer",
            template="waitlist_offer",
            client_id=event.client_id,
            appointment_type=event.appointment_type,
            when=event.starts_at,
            site_timezone=event.site_timezone,
            extra={"expires": event.expires_at},
        )

    @consumer.handles(DosingSessionFlagged)
    async def dosing_session_flagged(event: DosingSessionFlagged, delivery: Delivery) -> None:
        # The session's own clinicians: they would otherwise find out at check-in.
        tenant = delivery.envelope.tenantid
        team = set(event.clinician_ids)
        await notifier.notify_staff(
            tenant,
            cause_id=delivery.envelope.id,
            kind="dosing_session_flagged",
            recipients=[m for m in await notifier.staff_members(tenant) if m.staff_id in team],
            context=event.model_dump(mode="json"),
            severity="warning",
            client_id=event.client_id,
        )

    @consumer.handles(RemsMonitoringFormDue)
    async def rems_form_due(event: RemsMonitoringFormDue, delivery: Delivery) -> None:
        tenant = delivery.envelope.tenantid
        wanted = set(event.staff_ids)
        await notifier.notify_staff(
            tenant,
            cause_id=delivery.envelope.id,
            kind="rems_form_due",
            recipients=[m for m in await notifier.staff_members(tenant) if m.staff_id in wanted],
            context=event.model_dump(mode="json"),
            severity="warning",
            client_id=event.client_id,
        )


def _clinical_alerts(consumer: EventConsumer, runtime: NotificationsRuntime) -> None:
    """Urgent: the session's clinicians first, then on-call staff."""
    notifier = runtime.parts.notifier

    @consumer.handles(VitalsAlertRaised)
    async def vitals_alert(event: VitalsAlertRaised, delivery: Delivery) -> None:
        await raise_urgent(
            runtime,
            notifier,
            delivery.envelope.tenantid,
            cause_id=delivery.envelope.id,
            kind="vitals_alert",
            alert_id=event.alert_id,
            client_id=event.client_id,
            site_id=event.site_id,
            context=await _named(runtime, delivery.envelope.tenantid, event.model_dump()),
        )

    @consumer.handles(SafetyAlertRaised)
    async def safety_alert(event: SafetyAlertRaised, delivery: Delivery) -> None:
        await raise_urgent(
            runtime,
            notifier,
            delivery.envelope.tenantid,
            cause_id=delivery.envelope.id,
            kind="safety_alert",
            alert_id=event.alert_id,
            client_id=event.client_id,
            site_id=event.site_id,
            context=await _named(runtime, delivery.envelope.tenantid, event.model_dump()),
        )


def _operational_alerts(consumer: EventConsumer, runtime: NotificationsRuntime) -> None:
    """Compliance, credentials, billing: to the staff whose role it concerns."""
    notifier = runtime.parts.notifier

    async def to_roles(
        delivery: Delivery, kind: str, site_id: str | None, context: dict[str, Any]
    ) -> None:
        tenant = delivery.envelope.tenantid
        recipients = with_roles(await notifier.staff_members(tenant), ALERT_ROLES[kind], site_id)
        await notifier.notify_staff(
            tenant,
            cause_id=delivery.envelope.id,
            kind=kind,
            recipients=recipients,
            context=await _named(runtime, tenant, context),
            severity="warning",
        )

    @consumer.handles(StockLow)
    async def stock_low(event: StockLow, delivery: Delivery) -> None:
        await to_roles(delivery, "stock_low", event.site_id, event.model_dump())

    @consumer.handles(DiscrepancyOpened)
    async def discrepancy(event: DiscrepancyOpened, delivery: Delivery) -> None:
        await to_roles(delivery, "discrepancy_opened", event.site_id, event.model_dump())

    @consumer.handles(ComplianceDeadlineDue)
    async def deadline(event: ComplianceDeadlineDue, delivery: Delivery) -> None:
        await to_roles(delivery, "compliance_deadline", event.site_id, event.model_dump())

    @consumer.handles(ClaimStatusChanged)
    async def claim_status(event: ClaimStatusChanged, delivery: Delivery) -> None:
        if event.status == "denied":
            await to_roles(delivery, "claim_denied", None, event.model_dump())

    @consumer.handles(CredentialExpiring)
    async def credential_expiring(event: CredentialExpiring, delivery: Delivery) -> None:
        tenant = delivery.envelope.tenantid
        members = await notifier.staff_members(tenant)
        holder = [m for m in members if m.staff_id == event.staff_id]
        admins = with_roles(members, ALERT_ROLES["credential_expiring"])
        await notifier.notify_staff(
            tenant,
            cause_id=delivery.envelope.id,
            kind="credential_expiring",
            recipients=[*holder, *admins],
            context={
                **event.model_dump(),
                "staff_name": holder[0].display_name if holder else event.staff_id,
            },
            severity="warning",
        )
