"""FHIR R4 read API (resources built and validated with fhir.resources.R4B)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from halcyon.clinical.api.chart import CHART_READERS, Clients, open_chart
from halcyon.clinical.domain import fhir
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.consents import consent_status
from halcyon.clinical.store import (
    AssessmentRepository,
    ConsentRepository,
    EpisodeRepository,
    NoteRepository,
    VitalsRepository,
)
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit, repository

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])
FHIR_JSON = "application/fhir+json"
Notes = Annotated[NoteRepository, repository(NoteRepository)]
Episodes = Annotated[EpisodeRepository, repository(EpisodeRepository)]
Readings = Annotated[VitalsRepository, repository(VitalsRepository)]
Assessments = Annotated[AssessmentRepository, repository(AssessmentRepository)]
Consents = Annotated[ConsentRepository, repository(ConsentRepository)]
PatientParam = Annotated[str, Query(alias="patient", min_length=1, max_length=64)]
Count = Annotated[int, Query(alias="_count", ge=1, le=200)]


def _respond(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=FHIR_JSON)


@router.get("/Patient/{client_id}", summary="FHIR Patient")
async def read_patient(
    client_id: str, caller: CurrentCaller, clients: Clients, audit: Audit, request: Request
) -> JSONResponse:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_READERS,
        action="read",
        resource="fhir/Patient",
        resource_id=client_id,
    )
    resource = fhir.patient(chart.client, caller.tenant_id)
    await chart.record("read", "fhir/Patient", client_id)
    return _respond(fhir.as_json(resource))


@router.get("/Encounter/{encounter_id}", summary="FHIR Encounter (a note's encounter)")
async def read_encounter(
    encounter_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    audit: Audit,
    request: Request,
) -> JSONResponse:
    note = await notes.get(caller.tenant_id, encounter_id)
    if note is None or note.get("addendum_of"):
        raise NotFound(f"no encounter {encounter_id} in your agency")
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        note["client_id"],
        CHART_READERS,
        action="read",
        resource="fhir/Encounter",
        resource_id=encounter_id,
    )
    await chart.record("read", "fhir/Encounter", encounter_id)
    return _respond(fhir.as_json(fhir.encounter(note)))


@router.get("/Encounter", summary="FHIR Encounter search by patient")
async def search_encounters(
    patient: PatientParam,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    audit: Audit,
    request: Request,
    count: Count = 50,
) -> JSONResponse:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        patient,
        CHART_READERS,
        action="read",
        resource="fhir/Encounter",
    )
    docs = await notes.find(
        caller.tenant_id, {"client_id": patient, "kind": {"$ne": "addendum"}}, limit=count
    )
    await chart.record("read", "fhir/Encounter")
    return _respond(fhir.as_json(fhir.searchset([fhir.encounter(d) for d in docs])))


@router.get("/Observation", summary="FHIR Observations: vitals and instrument scores")
async def search_observations(
    patient: PatientParam,
    caller: CurrentCaller,
    clients: Clients,
    readings: Readings,
    assessments: Assessments,
    audit: Audit,
    request: Request,
    count: Count = 50,
) -> JSONResponse:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        patient,
        CHART_READERS,
        action="read",
        resource="fhir/Observation",
    )
    resources: list[Any] = []
    for reading in await readings.find(caller.tenant_id, {"client_id": patient}, limit=count):
        resources.extend(fhir.vitals_observations(reading))
    for scored in await assessments.find(caller.tenant_id, {"client_id": patient}, limit=count):
        resources.append(fhir.score_observation(scored))
    await chart.record("read", "fhir/Observation")
    return _respond(fhir.as_json(fhir.searchset(resources)))


@router.get("/Condition", summary="FHIR Conditions (episode diagnoses, ICD-10-CM)")
async def search_conditions(
    patient: PatientParam,
    caller: CurrentCaller,
    clients: Clients,
    episodes: Episodes,
    audit: Audit,
    request: Request,
    count: Count = 50,
) -> JSONResponse:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        patient,
        CHART_READERS,
        action="read",
        resource="fhir/Condition",
    )
    resources = [
        fhir.condition(episode, diagnosis)
        for episode in await episodes.find(caller.tenant_id, {"client_id": patient}, limit=count)
        for diagnosis in episode["diagnoses"]
    ]
    await chart.record("read", "fhir/Condition")
    return _respond(fhir.as_json(fhir.searchset(resources)))


@router.get("/Consent", summary="FHIR Consents")
async def search_consents(
    patient: PatientParam,
    caller: CurrentCaller,
    clients: Clients,
    consents: Consents,
    audit: Audit,
    request: Request,
    count: Count = 50,
) -> JSONResponse:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        patient,
        CHART_READERS,
        action="read",
        resource="fhir/Consent",
    )
    now = utcnow()
    resources = [
        fhir.consent(doc, consent_status(doc, now))
        for doc in await consents.find(caller.tenant_id, {"client_id": patient}, limit=count)
    ]
    await chart.record("read", "fhir/Consent")
    return _respond(fhir.as_json(fhir.searchset(resources)))
