"""FHIR R4 API: metadata, reads and searches (resources built with fhir.resources.R4B)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.api.fhir_export import public_url
from halcyon.clinical.api.fhir_media import FhirJSONResponse
from halcyon.clinical.domain import fhir, fhir_record
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import NoteRepository
from halcyon.clinical.usecases import fhir_search
from halcyon.clinical.usecases.chart import CHART_READERS
from halcyon.clinical.usecases.fhir_record import ChartSources
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.service import repository

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(
    prefix="/fhir",
    tags=["FHIR R4"],
    dependencies=[SecondFactor],
    default_response_class=FhirJSONResponse,
)
# What the server can do is no one's health information: a client reads it before signing
# in (FHIR's capabilities interaction), so it sits outside the second-factor router.
capabilities = APIRouter(prefix="/fhir", tags=["FHIR R4"], default_response_class=FhirJSONResponse)
Notes = Annotated[NoteRepository, repository(NoteRepository)]
Count = Annotated[int, Query(alias="_count", ge=1, le=200)]


def _respond(body: dict[str, Any]) -> JSONResponse:
    return FhirJSONResponse(body)


@router.get("/Patient/{client_id}", summary="FHIR Patient")
async def read_patient(client_id: str, caller: CurrentCaller, charts: ChartDoor) -> JSONResponse:
    chart = await charts.open(
        client_id, CHART_READERS, action="read", resource="fhir/Patient", resource_id=client_id
    )
    resource = fhir.patient(chart.client, caller.tenant_id)
    await chart.record("read", "fhir/Patient", client_id)
    return _respond(fhir.as_json(resource))


@router.get("/Encounter/{encounter_id}", summary="FHIR Encounter (a note's encounter)")
async def read_encounter(
    encounter_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    notes: Notes,
) -> JSONResponse:
    note = await notes.get(caller.tenant_id, encounter_id)
    if note is None or note.get("addendum_of"):
        raise await charts.access.missing(
            "encounter", encounter_id, action="read", resource="fhir/Encounter",
            resource_id=encounter_id,
        )  # fmt: skip
    chart = await charts.open(
        note["client_id"],
        CHART_READERS,
        action="read",
        resource="fhir/Encounter",
        resource_id=encounter_id,
    )
    await chart.record("read", "fhir/Encounter", encounter_id)
    return _respond(fhir.as_json(fhir.encounter(note)))


@capabilities.get("/metadata", summary="FHIR CapabilityStatement: what this server does")
async def metadata(request: Request) -> JSONResponse:
    base = public_url(request).removesuffix("/metadata")
    return _respond(fhir.as_json(fhir_record.capability_statement(base, utcnow())))


@router.get(
    "/{resource_type}",
    summary="FHIR search: _id, patient, date, _lastUpdated, _count, with next links",
)
async def search(
    resource_type: str,
    charts: ChartDoor,
    runtime: Runtime,
    request: Request,
    ids: Annotated[str | None, Query(alias="_id", max_length=2000)] = None,
    patient: Annotated[str | None, Query(max_length=80)] = None,
    date: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006 - FastAPI copies
    last_updated: Annotated[list[str], Query(alias="_lastUpdated", max_length=40)] = [],  # noqa: B006
    count: Count = 50,
    offset: Annotated[int, Query(alias="_offset", ge=0, le=100_000)] = 0,
) -> JSONResponse:
    query = fhir_search.parse(
        resource_type, ids=ids, patient=patient, dates=date, last_updated=last_updated,
        count=count, offset=offset,
    )  # fmt: skip
    src = ChartSources.of(runtime.repo)
    page, total = await fhir_search.search(src, query, charts, utcnow())
    more = offset + count < total
    next_url = public_url(request, _offset=offset + count) if more else None
    bundle = fhir_record.searchset_page(page, total, public_url(request), next_url)
    return _respond(fhir.as_json(bundle))


@router.get("/{resource_type}/{resource_id}", summary="FHIR read of any resource served here")
async def read(
    resource_type: str, resource_id: str, charts: ChartDoor, runtime: Runtime
) -> JSONResponse:
    query = fhir_search.parse(
        resource_type, ids=resource_id, patient=None, dates=[], last_updated=[],
        count=1, offset=0,
    )  # fmt: skip
    src = ChartSources.of(runtime.repo)
    page, _ = await fhir_search.search(src, query, charts, utcnow())
    if not page:
        raise NotFound(f"no {resource_type} {resource_id} in your agency")
    return _respond(page[0].body)
