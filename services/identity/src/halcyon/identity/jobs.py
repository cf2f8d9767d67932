"""The daily credential-expiry job: one warning per credential, 30 days before it expires."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from halcyon.identity.domain.credentials import expiring_credentials
from halcyon.identity.runtime import Events
from halcyon.identity.store import AgencyRepository, StaffRepository
from halcyon.shared.contracts.identity import CredentialExpiring
from halcyon.shared.mongo import Document
from halcyon.shared.outbox import Lease
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger("halcyon.identity.credentials")
SENT_FIELD = "credential_warnings_sent"


class CredentialExpiryJob:
    def __init__(
        self,
        staff: StaffRepository,
        agencies: AgencyRepository,
        events: Events,
        *,
        window_days: int,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self._staff = staff
        self._agencies = agencies
        self._events = events
        self._window = window_days
        self._today = today

    async def scan_agency(self, tenant_id: str, today: date | None = None) -> int:
        """Queue a ``CredentialExpiring`` for each credential not warned about yet."""
        day = today or self._today()
        queued = 0
        for doc in await self._staff.find(tenant_id, {"active": True}):
            for credential in expiring_credentials(doc, day, self._window):
                event = CredentialExpiring(
                    staff_id=doc["_id"],
                    credential_type=credential.credential_type,
                    identifier=credential.identifier,
                    expires_on=credential.expires_on,
                    days_left=credential.days_left,
                )
                # The marker and the event are one conditional write: a second run, or a
                # second instance, finds the marker and queues nothing.
                updated = await self._staff.update(
                    tenant_id,
                    {"_id": doc["_id"], SENT_FIELD: {"$ne": credential.key}},
                    {"$push": {SENT_FIELD: credential.key}},
                    [self._events.event(event, tenant_id=tenant_id)],
                )
                if updated is not None:
                    queued += 1
        return queued

    async def scan_all(self, today: date | None = None) -> int:
        total = 0
        for tenant_id in await self._agencies.all_agency_ids():
            total += await self.scan_agency(tenant_id, today)
        return total

    async def run_forever(self, database: AsyncDatabase[Document], interval: float) -> None:
        # One instance scans at a time; the lease outlives the interval so the holder keeps it.
        lease = Lease(database, "identity-credential-expiry", ttl_seconds=interval + 60)
        while True:
            try:
                if await lease.acquire():
                    queued = await self.scan_all()
                    log.info("credential-expiry scan queued %d warning(s)", queued)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("credential-expiry scan failed; will retry", exc_info=True)
            await asyncio.sleep(interval)
