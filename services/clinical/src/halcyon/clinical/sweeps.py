"""Background work: announce consents that expired on their own; run bulk exports."""

from __future__ import annotations

import asyncio
import logging
import uuid

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.consents import consent_changed
from halcyon.clinical.store import ConsentRepository, ExportFileRepository, ExportJobRepository
from halcyon.clinical.usecases.bulk_export import run_job
from halcyon.clinical.usecases.chart import event
from halcyon.clinical.usecases.fhir_record import ChartSources
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


async def run_export_worker(runtime: ServiceRuntime) -> None:
    """Claim export jobs (any agency) under a lease and run them, one at a time."""
    jobs = runtime.repo(ExportJobRepository)
    files = runtime.repo(ExportFileRepository)
    src = ChartSources.of(runtime.repo)
    worker = f"{runtime.settings.service_name}-{uuid.uuid4().hex[:12]}"
    interval = float(getattr(runtime.settings, "export_poll_seconds", 1.0))
    while True:
        try:
            for job in await jobs.claimable(utcnow()):
                await run_job(src, jobs, files, runtime.audit, job, worker)
        except Exception:
            log.exception("export worker round failed; retrying next round")
        await asyncio.sleep(interval)
