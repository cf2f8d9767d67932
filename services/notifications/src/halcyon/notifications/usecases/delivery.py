"""The one background worker: fires due reminders and sends due deliveries.

Exactly one instance works at a time (``Lease``); each reminder and delivery is still
*claimed* with a conditional update before it is acted on, so even two workers (a lease
handed over mid-tick) never send one twice. Everything it needs is in documents with due
times, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from halcyon.notifications.channels import EmailChannel, SendFailed, SmsChannel
from halcyon.notifications.domain import deliveries as d
from halcyon.notifications.domain.recipients import with_roles
from halcyon.notifications.domain.reminders import occurrence_key
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.store import DeadDeliveries, Deliveries, Reminders
from halcyon.notifications.usecases.alerts import escalate_due
from halcyon.notifications.usecases.notifier import Notifier
from halcyon.shared.mongo import Document, DuplicateRecord
from halcyon.shared.outbox import Lease
from opentelemetry.instrumentation.utils import suppress_instrumentation

if TYPE_CHECKING:
    from halcyon.notifications.parts import NotificationsRuntime

log = logging.getLogger("halcyon.notifications.usecases.delivery")
BATCH = 50


class DeliveryWorker:
    def __init__(
        self, runtime: NotificationsRuntime, settings: NotificationsSettings, notifier: Notifier
    ) -> None:
        self._settings = settings
        self._runtime = runtime
        self._database = runtime.database
        self.notifier = notifier
        self.clock = notifier.clock
        self.reminders = runtime.repo(Reminders)
        self.deliveries = runtime.repo(Deliveries)
        self.dead = runtime.repo(DeadDeliveries)
        self.email = EmailChannel(settings)
        self.sms = SmsChannel(settings)
        self._lease = Lease(runtime.database, "notifications-worker", ttl_seconds=15.0)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            # Hand the lease over at once on shutdown instead of making the next instance
            # (or this one, restarted) wait for it to expire.
            with contextlib.suppress(Exception):
                await self._lease.release()

    async def _loop(self) -> None:
        while True:
            try:
                with suppress_instrumentation():  # polling is nobody's request
                    await self.clock.refresh()
                    if await self._lease.acquire():
                        await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("notifications worker tick failed; will retry", exc_info=True)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.worker_poll_seconds)

    async def tick(self) -> None:
        await self.clock.refresh()
        await self.fire_due_reminders()
        await escalate_due(self._runtime, self.notifier)
        await self.send_due_deliveries()

    def _stale(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self._settings.claim_timeout_seconds)

    # -- reminders ---------------------------------------------------------------------
    async def fire_due_reminders(self) -> int:
        now = self.clock.now()
        # Across agencies on purpose: the worker serves every tenant; each claim and write
        # below goes through the tenant-scoped repository with the document's tenant.
        cursor = self._database[Reminders.collection_name].find(
            {
                "$or": [
                    {"status": "scheduled", "due_at": {"$lte": now}},
                    {"status": "firing", "claimed_at": {"$lt": self._stale(now)}},
                ]
            },
            sort=[("due_at", 1)],
            limit=BATCH,
        )
        fired = 0
        for doc in [doc async for doc in cursor]:
            fired += await self._fire(doc, now)
        return fired

    async def _fire(self, doc: Document, now: datetime) -> int:
        tenant = doc["tenant_id"]
        claimed = await self.reminders.update(
            tenant,
            # Conditional claim: a cancellation or a move in between makes this miss.
            {
                "_id": doc["_id"],
                "status": doc["status"],
                "starts_at": doc["starts_at"],
                "appointment_version": doc["appointment_version"],
            },
            {"$set": {"status": "firing", "claimed_at": now}},
        )
        if claimed is None:
            return 0
        await self.notifier.notify_client(
            tenant,
            cause_id=occurrence_key(doc["_id"], doc["starts_at"]),
            rule=f"appointment_reminder_{doc['kind']}",
            template="appointment_reminder",
            client_id=doc["client_id"],
            appointment_type=doc["appointment_type"],
            when=doc["starts_at"],
            site_timezone=doc["site_timezone"],
            extra={"lead": "tomorrow" if doc["kind"] == "24h" else "soon"},
            reminder_id=doc["_id"],
        )
        await self.reminders.update(
            tenant,
            {"_id": doc["_id"], "status": "firing", "starts_at": doc["starts_at"]},
            {"$set": {"status": "sent", "fired_at": now}},
        )
        return 1

    # -- deliveries --------------------------------------------------------------------
    async def send_due_deliveries(self) -> int:
        now = self.clock.now()
        cursor = self._database[Deliveries.collection_name].find(
            {
                "$or": [
                    {"status": d.QUEUED, "next_attempt_at": {"$lte": now}},
                    {"status": d.SENDING, "claimed_at": {"$lt": self._stale(now)}},
                ]
            },
            sort=[("next_attempt_at", 1)],
            limit=BATCH,
        )
        sent = 0
        for doc in [doc async for doc in cursor]:
            sent += await self._send(doc, now)
        return sent

    async def _send(self, doc: Document, now: datetime) -> int:
        tenant = doc["tenant_id"]
        claimed = await self.deliveries.update(
            tenant,
            {"_id": doc["_id"], "status": doc["status"], "attempts": doc["attempts"]},
            {"$set": {"status": d.SENDING, "claimed_at": now}},
        )
        if claimed is None:
            return 0
        if not await self._still_wanted(claimed):
            await self.deliveries.update(
                tenant,
                {"_id": doc["_id"], "status": d.SENDING},
                {
                    "$set": {
                        "status": d.WITHDRAWN,
                        "updated_at": now,
                        "reason": "appointment cancelled or moved",
                    }
                },
            )
            return 0
        try:
            if claimed["channel"] == "email":
                provider_id = await self.email.send(
                    to=claimed["address"],
                    subject=claimed["subject"],
                    text=claimed["text"],
                    html=claimed.get("html"),
                    delivery_id=claimed["_id"],
                )
            elif claimed["channel"] == "sms":
                provider_id = await self.sms.send(
                    to=claimed["address"], body=claimed["text"], delivery_id=claimed["_id"]
                )
            else:
                raise SendFailed(f"channel {claimed['channel']} is not sent by the worker")
        except SendFailed as exc:
            await self.record_failure(claimed, str(exc), expected_status=d.SENDING)
            return 0
        sent_at = self.clock.now()
        await self.deliveries.update(
            tenant,
            {"_id": claimed["_id"], "status": d.SENDING},
            {
                "$set": {
                    "status": d.SENT,
                    "sent_at": sent_at,
                    "updated_at": sent_at,
                    "provider_message_id": provider_id,
                },
                "$inc": {"attempts": 1},
            },
            [self.notifier.status_event(claimed, d.SENT, sent_at)],
        )
        return 1

    async def _still_wanted(self, doc: Document) -> bool:
        """A reminder held back (quiet hours, retries) is dropped if the appointment was
        cancelled or moved meanwhile: a reminder must never name a time that is wrong."""
        if not doc.get("reminder_id"):
            return True
        reminder = await self.reminders.get(doc["tenant_id"], doc["reminder_id"])
        return bool(
            reminder
            and reminder["status"] in ("firing", "sent")
            and reminder["starts_at"] == doc.get("starts_at")
        )

    async def record_failure(self, doc: Document, error: str, *, expected_status: str) -> None:
        """One failed attempt: retry later with backoff, or, after the last, dead-letter it
        and tell the agency admins in their inbox."""
        tenant = doc["tenant_id"]
        now = self.clock.now()
        attempts_before = int(doc.get("attempts", 0))
        if expected_status == d.SENT:
            # The provider failed it after accepting it: the accepted send counted already.
            attempts_before -= 1
        outcome = d.after_failure(
            attempts_before, self._settings.max_attempts, now, self._settings.retry_base_seconds
        )
        status_out = d.DEAD if outcome.status == d.DEAD else d.FAILED
        updated = await self.deliveries.update(
            tenant,
            {"_id": doc["_id"], "status": expected_status},
            {
                "$set": {
                    "status": outcome.status,
                    "attempts": outcome.attempts,
                    "next_attempt_at": outcome.next_attempt_at,
                    "last_error": error[:500],
                    "updated_at": now,
                },
                "$push": {"errors": {"at": now, "error": error[:500]}},
            },
            [self.notifier.status_event(doc, status_out, now)],
        )
        if updated is None:
            return
        log.warning("delivery %s attempt %d failed: %s", doc["_id"], outcome.attempts, error[:200])
        if outcome.status == d.DEAD:
            await self._dead_letter(updated, now)

    async def _dead_letter(self, doc: Document, now: datetime) -> None:
        tenant = doc["tenant_id"]
        with contextlib.suppress(DuplicateRecord):
            await self.dead.insert(
                tenant,
                {
                    "_id": doc["_id"],
                    "channel": doc["channel"],
                    "recipient_kind": doc["recipient_kind"],
                    "recipient_id": doc["recipient_id"],
                    "rule": doc["rule"],
                    "attempts": doc["attempts"],
                    "last_error": doc.get("last_error"),
                    "dead_at": now,
                },
            )
        admins = with_roles(await self.notifier.staff_members(tenant), {"agency_admin"})
        if not admins:
            log.error("delivery %s is dead and the agency has no admin to tell", doc["_id"])
        context: dict[str, Any] = {
            "delivery_id": doc["_id"],
            "channel": doc["channel"],
            "recipient_kind": doc["recipient_kind"],
            "recipient_id": doc["recipient_id"],
            "attempts": doc["attempts"],
            "error": doc.get("last_error") or "unknown error",
        }
        # Inbox only: an email about a failed email could fail the same way, forever.
        await self.notifier.notify_staff(
            tenant,
            cause_id=doc["_id"],
            kind="delivery_dead",
            recipients=admins,
            context=context,
            only_channels=["inbox"],
            severity="warning",
        )

    async def provider_receipt(self, delivery_id: str, status: str, error: str | None) -> str:
        """The SMS provider reported the fate of a message it accepted.

        Returns "unknown" (not ours), "early" (we have not yet recorded the send: the
        provider must retry the webhook) or "applied".
        """
        # Looked up across agencies: the provider knows only our delivery id (client_ref).
        doc = await self._database[Deliveries.collection_name].find_one(
            {"_id": delivery_id}, projection={"_outbox": 0}
        )
        if doc is None:
            return "unknown"
        if doc["status"] == d.SENDING:
            return "early"
        if status == "delivered":
            now = self.clock.now()
            await self.deliveries.update(
                doc["tenant_id"],
                {"_id": delivery_id, "status": d.SENT},
                {"$set": {"status": d.DELIVERED, "delivered_at": now, "updated_at": now}},
                [self.notifier.status_event(doc, d.DELIVERED, now)],
            )
        elif status in ("failed", "undelivered"):
            await self.record_failure(doc, f"provider: {error or status}", expected_status=d.SENT)
            self.wake()
        return "applied"
