"""The service's notion of "now": real time, plus an offset tests may set.

Reminders, quiet hours and retries all read this clock, so a test can say "it is now
23 h 59 min before the appointment" and watch the reminder go out. The offset lives in
the database (it survives a restart of the service, as the reminders do) and can only be
set when ``HALCYON_ENVIRONMENT=test``; anywhere else it is always zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from halcyon.shared.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

_CLOCK_ID = "test-clock"


class ServiceClock:
    def __init__(self, database: AsyncDatabase[Document], *, controllable: bool) -> None:
        # Not tenant data: one process-wide setting, hence a plain collection.
        self._settings = database["service_settings"]
        self.controllable = controllable
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    async def refresh(self) -> None:
        if not self.controllable:
            return
        doc = await self._settings.find_one({"_id": _CLOCK_ID})
        self._offset = timedelta(seconds=float(doc["offset_seconds"])) if doc else timedelta(0)

    async def set_now(self, at: datetime) -> None:
        if not self.controllable:
            raise RuntimeError("the clock is only controllable in the test environment")
        offset = at.astimezone(UTC) - datetime.now(UTC)
        await self._settings.update_one(
            {"_id": _CLOCK_ID},
            {"$set": {"offset_seconds": offset.total_seconds()}},
            upsert=True,
        )
        self._offset = offset
