"""Background work: announce consents that expired on their own; run bulk exports."""

from __future__ import annotations

import asyncio
import logging
import uuid

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import ExportFileRepository, ExportJobRepository
from halcyon.clinical.usecases.bulk_export import run_job
from halcyon.clinical.usecases.consents import announce_expired_consents
from halcyon.clinical.usecases.fhir_record import ChartSources

log = logging.getLogger("halcyon.clinical.sweeps")


async def run_consent_sweep(runtime: ClinicalRuntime) -> None:
    interval = runtime.settings.consent_sweep_seconds
    while True:
        try:
            await announce_expired_consents(runtime)
        except Exception:
            log.exception("consent expiry sweep failed; retrying next round")
        await asyncio.sleep(interval)


async def run_export_worker(runtime: ClinicalRuntime) -> None:
    """Claim export jobs (any agency) under a lease and run them, one at a time."""
    jobs = runtime.repo(ExportJobRepository)
    files = runtime.repo(ExportFileRepository)
    src = ChartSources.of(runtime.repo)
    worker = f"{runtime.settings.service_name}-{uuid.uuid4().hex[:12]}"
    interval = runtime.settings.export_poll_seconds
    while True:
        try:
            for job in await jobs.claimable(utcnow()):
                await run_job(src, jobs, files, runtime.audit, job, worker)
        except Exception:
            log.exception("export worker round failed; retrying next round")
        await asyncio.sleep(interval)
