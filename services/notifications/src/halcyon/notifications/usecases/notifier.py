"""Turns "tell this person this" into deliveries: picks channel and template, renders,
applies consent and quiet hours, and queues one delivery per channel (deduplicated)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from halcyon.notifications.clock import ServiceClock
from halcyon.notifications.domain import deliveries as d
from halcyon.notifications.domain.privacy import appointment_label
from halcyon.notifications.domain.quiet_hours import send_time, zone
from halcyon.notifications.domain.recipients import (
    ClientContact,
    ClientPreferences,
    StaffAlertPreferences,
    StaffMember,
    client_channel,
    staff_channels,
)
from halcyon.notifications.domain.templates import (
    MessageTemplate,
    TemplateKey,
    choose,
    render,
)
from halcyon.notifications.links import unsubscribe_token
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.store import (
    AgencyTemplates,
    ClientContacts,
    ClientPreferencesStore,
    Deliveries,
    Inbox,
    ParkedClientMessages,
    StaffDirectory,
    StaffPreferencesStore,
)
from halcyon.shared.contracts.notifications import DeliveryStatusChanged
from halcyon.shared.mongo import Document, DuplicateRecord, OutboxEvent
from uuid6 import uuid7

if TYPE_CHECKING:
    from halcyon.notifications.parts import NotificationsRuntime

log = logging.getLogger("halcyon.notifications")


def local_time(at: datetime, tz_name: str | None, fallback: str) -> str:
    tz = zone(tz_name, fallback)
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


class Notifier:
    def __init__(
        self, runtime: NotificationsRuntime, settings: NotificationsSettings, clock: ServiceClock
    ) -> None:
        self._runtime = runtime
        self._settings = settings
        self.clock = clock
        self.clients = runtime.repo(ClientContacts)
        self.client_prefs = runtime.repo(ClientPreferencesStore)
        self.staff = runtime.repo(StaffDirectory)
        self.staff_prefs = runtime.repo(StaffPreferencesStore)
        self.deliveries = runtime.repo(Deliveries)
        self.inbox = runtime.repo(Inbox)
        self.templates = runtime.repo(AgencyTemplates)
        self.parked = runtime.repo(ParkedClientMessages)

    def status_event(self, doc: Mapping[str, Any], status: str, at: datetime) -> OutboxEvent:
        """A delivery's new status, for the outbox of the write that makes it so."""
        event = DeliveryStatusChanged(
            delivery_id=doc["_id"],
            channel=doc["channel"],
            status=status,
            recipient_kind=doc["recipient_kind"],
            recipient_id=doc["recipient_id"],
            at=at,
        )
        return self._runtime.event(event, tenant_id=doc["tenant_id"])

    async def agency_templates(self, tenant: str) -> dict[TemplateKey, MessageTemplate]:
        docs = await self.templates.find(tenant, {})
        return {
            (doc["template"], doc["channel"], doc["language"]): MessageTemplate(
                subject=doc.get("subject", ""), text=doc["text"], html=doc.get("html")
            )
            for doc in docs
        }

    async def staff_members(self, tenant: str) -> list[StaffMember]:
        return [StaffMember.from_doc(doc) for doc in await self.staff.find(tenant, {})]

    # -- clients -----------------------------------------------------------------------
    async def notify_client(
        self,
        tenant: str,
        *,
        cause_id: str,
        rule: str,
        template: str,
        client_id: str,
        appointment_type: str,
        when: datetime,
        site_timezone: str,
        extra: Mapping[str, Any] | None = None,
        reminder_id: str | None = None,
    ) -> str | None:
        contact_doc = await self.clients.get(tenant, client_id)
        if contact_doc is None:
            # Topics are not ordered with each other: the booking may overtake the client's
            # registration. Park the message; registration releases it.
            await self._park(
                tenant,
                {
                    "cause_id": cause_id,
                    "rule": rule,
                    "template": template,
                    "client_id": client_id,
                    "appointment_type": appointment_type,
                    "when": when,
                    "site_timezone": site_timezone,
                    "extra": dict(extra or {}),
                    "reminder_id": reminder_id,
                },
            )
            return None
        contact = ClientContact.from_doc(contact_doc)
        prefs = ClientPreferences.from_doc(await self.client_prefs.get(tenant, client_id))
        channel = client_channel(contact, prefs)
        if channel is None:
            log.warning("client %s has no email or phone; %s not sent", client_id, rule)
            return None
        language = (contact.language or "en").split("-")[0].lower()
        tz_name = contact.timezone or site_timezone
        context: dict[str, Any] = {
            "given_name": contact.given_name,
            # Neutral "appointment" unless the client opted in to details (privacy.py).
            "appointment_label": appointment_label(
                appointment_type, language, prefs.share_appointment_details
            ),
            "when": local_time(when, tz_name, site_timezone),
            "unsubscribe_url": (
                f"{self._settings.public_base_url}/unsubscribe/"
                f"{unsubscribe_token(self._settings.field_encryption_key, tenant, client_id)}"
            ),
        }
        for key, value in (extra or {}).items():
            # Times are shown in the client's own zone, like the appointment time.
            context[key] = (
                local_time(value, tz_name, site_timezone) if isinstance(value, datetime) else value
            )
        message = render(
            choose(template, channel, language, await self.agency_templates(tenant)), context
        )
        now = self.clock.now()
        doc: Document = {
            "_id": d.delivery_id(cause_id, rule, "client", client_id, channel),
            "rule": rule,
            "template": template,
            "channel": channel,
            "recipient_kind": "client",
            "recipient_id": client_id,
            "address": contact.address(channel),
            "language": language,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "cause_id": cause_id,
            "reminder_id": reminder_id,
            "starts_at": when if reminder_id else None,
        }
        if prefs.opted_out:
            # Kept (without an event) so staff can see why the client heard nothing.
            doc.update(status=d.SUPPRESSED, reason="client opted out", next_attempt_at=None)
            return await self._insert(tenant, doc, [])
        # Quiet hours defer the message to the end of the window (never drop it)...
        due = send_time(
            now, zone(tz_name, site_timezone), prefs.quiet_hours, when if reminder_id else None
        )
        if due is None:
            # ...except a reminder that would arrive after the appointment began.
            doc.update(
                status=d.SUPPRESSED,
                reason="quiet hours last past the appointment",
                next_attempt_at=None,
            )
            return await self._insert(tenant, doc, [])
        doc.update(status=d.QUEUED, next_attempt_at=due, deferred_for_quiet_hours=due > now)
        return await self._insert(
            tenant, doc, [self.status_event(doc | {"tenant_id": tenant}, d.QUEUED, now)]
        )

    async def _park(self, tenant: str, intent: dict[str, Any]) -> None:
        key = f"{intent['cause_id']}|{intent['rule']}|{intent['client_id']}"
        await self.parked.update(
            tenant, {"_id": key}, {"$set": {**intent, "parked_at": self.clock.now()}}, upsert=True
        )
        log.info("client %s not known yet: %s parked", intent["client_id"], intent["rule"])
        # The registration may have landed between our read and the park: release now.
        if await self.clients.get(tenant, intent["client_id"]) is not None:
            await self.release_parked(tenant, intent["client_id"])

    async def release_parked(self, tenant: str, client_id: str) -> int:
        """Send what waited for this client's contact details (deduplicated as ever)."""
        released = 0
        for doc in await self.parked.find(tenant, {"client_id": client_id}):
            await self.notify_client(
                tenant,
                cause_id=doc["cause_id"],
                rule=doc["rule"],
                template=doc["template"],
                client_id=client_id,
                appointment_type=doc["appointment_type"],
                when=doc["when"],
                site_timezone=doc["site_timezone"],
                extra=doc.get("extra") or {},
                reminder_id=doc.get("reminder_id"),
            )
            await self.parked.delete(tenant, {"_id": doc["_id"]})
            released += 1
        return released

    # -- staff -------------------------------------------------------------------------
    async def notify_staff(
        self,
        tenant: str,
        *,
        cause_id: str,
        kind: str,
        recipients: Sequence[StaffMember],
        context: Mapping[str, Any],
        only_channels: Sequence[str] | None = None,
        severity: str = "info",
        client_id: str | None = None,
    ) -> list[str]:
        agency = await self.agency_templates(tenant)
        inbox_message = render(choose(kind, "inbox", "en", agency), context)
        queued = []
        for member in {m.staff_id: m for m in recipients}.values():
            prefs = StaffAlertPreferences.from_doc(
                await self.staff_prefs.get(tenant, member.staff_id)
            )
            channels = staff_channels(kind, member, prefs)
            if only_channels is not None:
                channels = [c for c in channels if c in only_channels] or ["inbox"]
            for channel in channels:
                delivery = d.delivery_id(cause_id, kind, "staff", member.staff_id, channel)
                if channel == "inbox":
                    await self._inbox(
                        tenant,
                        delivery,
                        member,
                        kind,
                        inbox_message.subject,
                        inbox_message.text,
                        severity,
                        client_id,
                    )
                    message = inbox_message
                else:
                    message = render(
                        choose(kind, channel, "en", agency),
                        {**context, "title": inbox_message.subject},
                    )
                now = self.clock.now()
                doc: Document = {
                    "_id": delivery,
                    "rule": kind,
                    "template": kind,
                    "channel": channel,
                    "recipient_kind": "staff",
                    "recipient_id": member.staff_id,
                    "address": member.email if channel == "email" else None,
                    "subject": message.subject,
                    "text": message.text,
                    "html": message.html,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                    "cause_id": cause_id,
                }
                # The inbox is ours: written above, so delivered at once.
                status = d.DELIVERED if channel == "inbox" else d.QUEUED
                doc.update(status=status, next_attempt_at=None if channel == "inbox" else now)
                inserted = await self._insert(
                    tenant, doc, [self.status_event(doc | {"tenant_id": tenant}, status, now)]
                )
                if inserted:
                    queued.append(inserted)
        return queued

    async def _inbox(
        self,
        tenant: str,
        delivery: str,
        member: StaffMember,
        kind: str,
        title: str,
        body: str,
        severity: str,
        client_id: str | None,
    ) -> None:
        # The same alert already filed in this inbox (unique delivery_id): nothing to do.
        with contextlib.suppress(DuplicateRecord):
            await self.inbox.insert(
                tenant,
                {
                    # uuid7 sorts by time: the inbox lists newest first by _id.
                    "_id": str(uuid7()),
                    "delivery_id": delivery,
                    "staff_id": member.staff_id,
                    "kind": kind,
                    "severity": severity,
                    "title": title,
                    "body": body,
                    "client_id": client_id,
                    "created_at": self.clock.now(),
                    "read_at": None,
                },
            )

    async def _insert(self, tenant: str, doc: Document, events: list[OutboxEvent]) -> str | None:
        try:
            await self.deliveries.insert(tenant, doc, events)
        except DuplicateRecord:
            log.info("delivery %s already exists: duplicate cause, not sent again", doc["_id"])
            return None
        return str(doc["_id"])
