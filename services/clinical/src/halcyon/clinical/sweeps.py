"""Background work: announce consents that expired on their own."""

from __future__ import annotations

import asyncio
import logging

from halcyon.clinical.api.chart import event
from halcyon.clinical.api.consents import consent_changed
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import ConsentRepository
from halcyon.shared.service import ServiceRuntime

log = logging.getLogger("halcyon.clinical.sweeps")


async def announce_expired_consents(consents: ConsentRepository) -> int:
    """One pass: mark each newly expired consent and queue its ConsentChanged, atomically."""
    announced = 0
    for doc in await consents.expired_unannounced(utcnow()):
        changed = consent_changed({**doc, "revoked_at": None}, "expired")
        # Conditional on "not yet announced": two instances sweeping at once announce once.
        done = await consents.update(
            doc["tenant_id"],
            {"_id": doc["_id"], "revoked_at": None, "expiry_announced": {"$ne": True}},
            {"$set": {"expiry_announced": True}},
            [event(changed, doc["tenant_id"])],
        )
        announced += done is not None
    return announced


async def run_consent_sweep(runtime: ServiceRuntime) -> None:
    consents = runtime.repo(ConsentRepository)
    interval = float(getattr(runtime.settings, "consent_sweep_seconds", 60.0))
    while True:
        try:
            await announce_expired_consents(consents)
        except Exception:
            log.exception("consent expiry sweep failed; retrying next round")
        await asyncio.sleep(interval)
