"""Background sweeps: the waitlist's offers nobody took in time."""

from __future__ import annotations

import asyncio
import logging

from halcyon.scheduling.settings import SchedulingRuntime
from halcyon.scheduling.usecases.booking import Scheduler
from halcyon.scheduling.usecases.waitlist import expire_offers

log = logging.getLogger("halcyon.scheduling")


async def sweep_waitlist_offers(runtime: SchedulingRuntime) -> None:
    """Expire offers nobody took in time, so the next cancellation can offer again."""
    scheduler = Scheduler(runtime)
    while True:
        await asyncio.sleep(runtime.settings.waitlist_sweep_seconds)
        try:
            expired = await expire_offers(scheduler)
            if expired:
                log.info("expired %d waitlist offer(s)", expired)
        except Exception:
            log.exception("waitlist sweep failed; will retry")
