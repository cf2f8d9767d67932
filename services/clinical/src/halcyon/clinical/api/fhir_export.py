"""FHIR Bulk Data: ``GET /fhir/$export`` (system level), status polling, NDJSON files.

Registered before the generic ``/fhir/{type}`` routes so ``$export`` is not a type.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from halcyon.clinical.api.fhir_media import (
    FHIR_JSON,
    FhirJSONResponse,
    NdjsonResponse,
    NoBody,
    in_progress,
)
from halcyon.clinical.domain.bulk_export import parse_request
from halcyon.clinical.store import ExportFileRepository, ExportJobRepository
from halcyon.clinical.usecases import bulk_export
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit, repository

router = APIRouter(prefix="/fhir", tags=["FHIR bulk export"])
Jobs = Annotated[ExportJobRepository, repository(ExportJobRepository)]
Files = Annotated[ExportFileRepository, repository(ExportFileRepository)]


def fhir_base(request: Request) -> str:
    """The FHIR base as the caller sees it: through the gateway when it forwarded us."""
    host = request.headers.get("x-forwarded-host")
    if host:
        scheme = request.headers.get("x-forwarded-proto", "https")
        return f"{scheme}://{host}/api/clinical/fhir"
    return str(request.base_url).rstrip("/") + "/fhir"


def public_url(request: Request, **params: int | str) -> str:
    """This request's URL as the caller sees it, with some query parameters replaced."""
    url = request.url.include_query_params(**params) if params else request.url
    path = url.path.removeprefix("/fhir")
    return f"{fhir_base(request)}{path}" + (f"?{url.query}" if url.query else "")


@router.get(
    "/$export",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=NoBody,
    responses=in_progress("Export started", Content_Location="The status URL to poll"),
    summary="Kick off an agency-wide export (NDJSON per resource type); poll Content-Location",
)
async def kick_off(
    caller: CurrentCaller,
    jobs: Jobs,
    audit: Audit,
    request: Request,
    types: Annotated[str | None, Query(alias="_type", max_length=500)] = None,
    since: Annotated[str | None, Query(alias="_since", max_length=40)] = None,
    output_format: Annotated[str | None, Query(alias="_outputFormat", max_length=60)] = None,
) -> Response:
    wanted = parse_request(types, since, output_format)
    base = fhir_base(request)
    job = await bulk_export.kick_off(jobs, caller, audit, request, wanted, base)
    location = f"{base}/$export-status/{job['_id']}"
    return NoBody(status_code=202, headers={"Content-Location": location})


@router.get(
    "/$export-status/{job_id}",
    summary="Export status: 202 + X-Progress, then the manifest",
    responses={
        200: {"description": "The completed export's manifest"},
        **in_progress("Still running", X_Progress="How far", Retry_After="Seconds to wait"),
        500: {
            "description": "The export failed (a FHIR OperationOutcome)",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        },
    },
)
async def export_status(job_id: str, caller: CurrentCaller, jobs: Jobs) -> Response:
    job = await bulk_export.job_of(jobs, caller, job_id)
    if job["status"] == "completed":
        return JSONResponse(bulk_export.manifest(job), headers={"Expires": "never"})
    if job["status"] == "failed":
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": job.get("error")}],
        }
        return FhirJSONResponse(outcome, status_code=500)
    headers = {"X-Progress": bulk_export.progress(job), "Retry-After": "1"}
    return NoBody(status_code=202, headers=headers)


@router.delete(
    "/$export-status/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=NoBody,
    responses=in_progress("Cancelled; its files are deleted"),
    summary="Cancel an export and delete its files",
)
async def cancel_export(job_id: str, caller: CurrentCaller, jobs: Jobs, files: Files) -> Response:
    await bulk_export.cancel(jobs, files, caller, job_id)
    return NoBody(status_code=202)


@router.get(
    "/$export-file/{job_id}/{name}",
    response_class=NdjsonResponse,
    summary="One NDJSON file of a completed export",
)
async def export_file(
    job_id: str, name: str, caller: CurrentCaller, jobs: Jobs, files: Files, audit: Audit,
    request: Request,
) -> Response:  # fmt: skip
    text = await bulk_export.read_file(jobs, files, caller, audit, request, job_id, name)
    return NdjsonResponse(text)
