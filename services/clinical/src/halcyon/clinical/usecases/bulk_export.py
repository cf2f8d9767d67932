"""Agency-wide FHIR Bulk Data export: kick-off, status, files, and the job itself.

The request only records the job; a background worker (``sweeps.run_export_worker``)
claims it under a lease, writes NDJSON parts into the service's own database, renews the
lease as it goes (progress is the number of clients done) and completes it. A worker
that dies leaves a lease that runs out; another instance starts the job again from the
beginning (ADR 0304).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from halcyon.clinical.domain import bulk_export
from halcyon.clinical.domain.bulk_export import ExportRequest, PartWriter
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import ExportFileRepository, ExportJobRepository
from halcyon.clinical.usecases.fhir_record import ChartSources, client_record
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import ALL_SITES, Caller, RoleGrant
from halcyon.shared.errors import Conflict, NotFound
from halcyon.shared.mongo import Document
from starlette.requests import Request
from uuid6 import uuid7

log = logging.getLogger("halcyon.clinical.export")

# Everyone's chart leaves in one go: only agency-wide admins and compliance officers.
EXPORTERS = frozenset({"agency_admin", "compliance_officer"})
RESOURCE = "fhir/$export"


async def kick_off(
    jobs: ExportJobRepository,
    caller: Caller,
    audit: AuditTrail,
    request: Request,
    wanted: ExportRequest,
    base_url: str,
) -> Document:
    caller.require(EXPORTERS, ALL_SITES)
    now = utcnow()
    doc: Document = {
        "_id": str(uuid7()),
        "requested_by": caller.user_id,
        "grants": [{"site": g.site_id, "role": g.role} for g in caller.grants],
        "request_url": str(request.url),
        "base_url": base_url,
        "types": list(wanted.types),
        "since": wanted.since,
        "status": "accepted",
        "transaction_time": now,
        "requested_at": now,
        "lease_until": now - timedelta(seconds=1),  # claimable at once
        "clients_total": 0,
        "clients_done": 0,
        "files": [],
    }
    saved = await jobs.insert(caller.tenant_id, doc)
    await audit.record(
        caller, action="export", resource=RESOURCE, resource_id=doc["_id"], request=request
    )
    return saved


async def job_of(jobs: ExportJobRepository, caller: Caller, job_id: str) -> Document:
    caller.require(EXPORTERS, ALL_SITES)
    job = await jobs.get(caller.tenant_id, job_id)
    if job is None or job["status"] == "cancelled":
        raise NotFound(f"no export {job_id} in your agency")
    return job


async def cancel(
    jobs: ExportJobRepository, files: ExportFileRepository, caller: Caller, job_id: str
) -> None:
    job = await job_of(jobs, caller, job_id)
    done = await jobs.update(
        caller.tenant_id,
        {"_id": job_id, "status": job["status"]},
        {"$set": {"status": "cancelled", "cancelled_at": utcnow()}},
    )
    if done is None:
        raise Conflict("the export changed meanwhile; ask again")
    await files.delete_job(caller.tenant_id, job_id)


async def read_file(
    jobs: ExportJobRepository,
    files: ExportFileRepository,
    caller: Caller,
    audit: AuditTrail,
    request: Request,
    job_id: str,
    name: str,
) -> str:
    job = await job_of(jobs, caller, job_id)
    if job["status"] != "completed":
        raise NotFound(f"export {job_id} has no files yet")
    part = await files.find_one(caller.tenant_id, {"job_id": job_id, "name": name})
    if part is None:
        raise NotFound(f"export {job_id} has no file {name}")
    await audit.record(
        caller, action="export", resource=f"{RESOURCE}-file", resource_id=f"{job_id}/{name}",
        request=request,
    )  # fmt: skip
    return str(part["text"])


def _caller_of(job: Document, tenant_id: str) -> Caller:
    grants = tuple(RoleGrant(site_id=g["site"], role=g["role"]) for g in job.get("grants", []))
    return Caller(user_id=job["requested_by"], tenant_id=tenant_id, grants=grants)


async def run_job(
    src: ChartSources,
    jobs: ExportJobRepository,
    files: ExportFileRepository,
    audit: AuditTrail,
    job: Document,
    worker: str,
) -> str:
    """Claim and run one job; returns its final status (or "taken" if another got it)."""
    tenant = str(job["tenant_id"])
    lease = timedelta(seconds=bulk_export.LEASE_SECONDS)
    claimed = await jobs.update(
        tenant,
        {"_id": job["_id"], "status": job["status"], "lease_until": job["lease_until"]},
        {"$set": {"status": "in-progress", "worker": worker, "lease_until": utcnow() + lease,
                  "clients_done": 0, "files": [], "started_at": utcnow()}},
    )  # fmt: skip
    if claimed is None:
        return "taken"
    try:
        return await _export(src, jobs, files, audit, claimed, worker, lease)
    except Exception as exc:
        log.exception("export %s failed", job["_id"])
        await jobs.update(
            tenant,
            {"_id": job["_id"], "worker": worker, "status": "in-progress"},
            {"$set": {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}},
        )
        return "failed"


async def _export(
    src: ChartSources,
    jobs: ExportJobRepository,
    files: ExportFileRepository,
    audit: AuditTrail,
    job: Document,
    worker: str,
    lease: timedelta,
) -> str:
    tenant, job_id = str(job["tenant_id"]), str(job["_id"])
    await files.delete_job(tenant, job_id)  # a restarted job starts clean
    clients = await src.clients.find(tenant, {})
    mine = {"_id": job_id, "worker": worker, "status": "in-progress"}
    await jobs.update(tenant, mine, {"$set": {"clients_total": len(clients)}})
    writer = PartWriter()
    caller = _caller_of(job, tenant)
    since = job.get("since")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=utcnow().tzinfo)
    now = job["transaction_time"]
    for done, client in enumerate(clients, start=1):
        for found in await client_record(src, tenant, client, now):
            if bulk_export.wanted(found, job["types"], since):
                writer.add(found.body)
        await _store(files, jobs, tenant, job_id, mine, writer.full())
        # Each client's chart left the agency's hands: audited per client, as a read.
        await audit.record(
            caller, action="export", resource=RESOURCE, resource_id=job_id,
            client_id=str(client["_id"]), site_id=client.get("home_site_id"),
        )  # fmt: skip
        renewed = await jobs.update(
            tenant, mine, {"$set": {"clients_done": done, "lease_until": utcnow() + lease}}
        )
        if renewed is None:
            # Cancelled (its files go too), or another worker took over after a stall.
            current = await jobs.get(tenant, job_id)
            if current is not None and current["status"] == "cancelled":
                await files.delete_job(tenant, job_id)
            return "cancelled"
    await _store(files, jobs, tenant, job_id, mine, writer.full(final=True))
    finished = await jobs.update(
        tenant, mine, {"$set": {"status": "completed", "completed_at": utcnow()}}
    )
    return "completed" if finished else "cancelled"


async def _store(
    files: ExportFileRepository,
    jobs: ExportJobRepository,
    tenant: str,
    job_id: str,
    mine: dict[str, Any],
    parts: list[tuple[str, int, list[str]]],
) -> None:
    for kind, number, lines in parts:
        name = f"{kind}-{number}.ndjson"
        await files.insert(
            tenant,
            {"_id": f"{job_id}:{name}", "job_id": job_id, "type": kind, "part": number,
             "name": name, "count": len(lines), "text": "\n".join(lines) + "\n"},
        )  # fmt: skip
        summary = {"type": kind, "part": number, "name": name, "count": len(lines)}
        await jobs.update(tenant, mine, {"$push": {"files": summary}})


def manifest(job: Document) -> dict[str, Any]:
    return bulk_export.manifest(job, list(job.get("files", [])), str(job["base_url"]))


def progress(job: Document) -> str:
    return bulk_export.progress(int(job.get("clients_done", 0)), int(job.get("clients_total", 0)))
