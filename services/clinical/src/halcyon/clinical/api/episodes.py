"""Episodes of care with ICD-10-CM diagnoses, and treatment plans."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.deps import ChartDoor
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.episodes import (
    ClientSignature,
    Diagnosis,
    EpisodeClosing,
    EpisodeOpening,
    TreatmentPlanDraft,
    ensure_open,
)
from halcyon.clinical.store import EpisodeRepository, TreatmentPlanRepository
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS
from halcyon.shared.errors import Conflict, RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from pydantic import BaseModel
from uuid6 import uuid7

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(tags=["episodes and treatment plans"], dependencies=[SecondFactor])
Episodes = Annotated[EpisodeRepository, repository(EpisodeRepository)]
Plans = Annotated[TreatmentPlanRepository, repository(TreatmentPlanRepository)]


class Episode(BaseModel):
    id: str
    client_id: str
    site_id: str
    program: str
    started_on: str
    ended_on: str | None = None
    status: str
    part2: bool
    diagnoses: list[Diagnosis]
    opened_by: str


class TreatmentPlan(BaseModel):
    id: str
    client_id: str
    episode_id: str
    site_id: str
    effective_on: str
    review_on: str
    problems: list[dict[str, Any]]
    status: str
    written_by: str
    client_signature: dict[str, Any] | None = None


def _episode(doc: Document) -> Episode:
    return Episode(id=doc["_id"], **{k: v for k, v in doc.items() if k in Episode.model_fields})


def _plan(doc: Document) -> TreatmentPlan:
    return TreatmentPlan(
        id=doc["_id"], **{k: v for k, v in doc.items() if k in TreatmentPlan.model_fields}
    )


@router.post(
    "/clients/{client_id}/episodes",
    status_code=status.HTTP_201_CREATED,
    response_model=Episode,
    summary="Open an episode of care with its diagnoses",
)
async def open_episode(
    client_id: str,
    body: EpisodeOpening,
    caller: CurrentCaller,
    charts: ChartDoor,
    episodes: Episodes,
) -> Episode:
    chart = await charts.open(
        client_id, CHART_WRITERS, action="create", resource="clinical/episode"
    )
    await chart.access.require(
        CHART_WRITERS,
        body.site_id,
        action="create",
        resource="clinical/episode",
        client_id=client_id,
    )
    diagnoses = body.model_dump(mode="json")["diagnoses"]
    if diagnoses and not any(d["primary"] for d in diagnoses):
        diagnoses[0]["primary"] = True  # the first listed is primary unless one is named
    doc = await episodes.insert(
        caller.tenant_id,
        {
            "_id": str(uuid7()),
            "client_id": client_id,
            **body.model_dump(mode="json", exclude={"diagnoses"}),
            "diagnoses": diagnoses,
            "status": "open",
            "opened_by": caller.user_id,
            "opened_at": utcnow(),
        },
    )
    await chart.record("create", "clinical/episode", doc["_id"])
    return _episode(doc)


@router.get(
    "/clients/{client_id}/episodes",
    response_model=PageOut[Episode],
    summary="A client's episodes of care",
)
async def list_episodes(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    episodes: Episodes,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Episode]:
    chart = await charts.open(client_id, CHART_READERS, action="read", resource="clinical/episode")
    result = await episodes.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", "clinical/episode")
    return PageOut(items=[_episode(d) for d in result.items], next_cursor=result.next_cursor)


async def _episode_chart(
    episode_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    episodes: EpisodeRepository,
    action: str,
) -> tuple[Any, Document]:
    doc = await episodes.get(caller.tenant_id, episode_id)
    if doc is None:
        raise await charts.access.missing(
            "episode", episode_id, action=action, resource="episode", resource_id=episode_id
        )
    chart = await charts.open(
        doc["client_id"],
        CHART_WRITERS,
        action=action,
        resource="clinical/episode",
        resource_id=episode_id,
    )
    return chart, doc


@router.post(
    "/episodes/{episode_id}/diagnoses",
    response_model=Episode,
    summary="Add an ICD-10-CM diagnosis to an open episode",
)
async def add_diagnosis(
    episode_id: str,
    body: Diagnosis,
    caller: CurrentCaller,
    charts: ChartDoor,
    episodes: Episodes,
) -> Episode:
    chart, doc = await _episode_chart(episode_id, caller, charts, episodes, "update")
    ensure_open(doc)
    if any(d["code"] == body.code for d in doc["diagnoses"]):
        raise Conflict(f"{body.code} is already on this episode")
    diagnosis = body.model_dump(mode="json")
    update: dict[str, Any] = {"$push": {"diagnoses": diagnosis}}
    if body.primary:
        # Only one primary: rewrite the list rather than positional updates (FerretDB).
        listed = [{**d, "primary": False} for d in doc["diagnoses"]] + [diagnosis]
        update = {"$set": {"diagnoses": listed}}
    updated = await episodes.update(
        caller.tenant_id,
        {"_id": episode_id, "status": "open", "diagnoses.code": {"$ne": body.code}},
        update,
    )
    if updated is None:
        raise Conflict("the episode changed meanwhile; reload and retry")
    await chart.record("update", "clinical/episode", episode_id)
    return _episode(updated)


@router.post("/episodes/{episode_id}/close", response_model=Episode, summary="Close an episode")
async def close_episode(
    episode_id: str,
    body: EpisodeClosing,
    caller: CurrentCaller,
    charts: ChartDoor,
    episodes: Episodes,
) -> Episode:
    chart, doc = await _episode_chart(episode_id, caller, charts, episodes, "update")
    ensure_open(doc)
    if body.ended_on.isoformat() < doc["started_on"]:
        raise RuleViolation("an episode cannot end before it started")
    updated = await episodes.update(
        caller.tenant_id,
        {"_id": episode_id, "status": "open"},
        {
            "$set": {
                "status": "closed",
                "ended_on": body.ended_on.isoformat(),
                "close_reason": body.reason,
            }
        },
    )
    if updated is None:
        raise Conflict("this episode was closed meanwhile")
    await chart.record("update", "clinical/episode", episode_id)
    return _episode(updated)


@router.post(
    "/clients/{client_id}/treatment-plans",
    status_code=status.HTTP_201_CREATED,
    response_model=TreatmentPlan,
    summary="Write a treatment plan: problems, goals, measurable objectives, interventions",
)
async def write_plan(
    client_id: str,
    body: TreatmentPlanDraft,
    caller: CurrentCaller,
    charts: ChartDoor,
    episodes: Episodes,
    plans: Plans,
) -> TreatmentPlan:
    chart = await charts.open(
        client_id, CHART_WRITERS, action="create", resource="clinical/treatment-plan"
    )
    episode = await episodes.get(caller.tenant_id, body.episode_id)
    if episode is None or episode["client_id"] != client_id:
        raise RuleViolation("the episode of care is not this client's")
    ensure_open(episode)
    doc = await plans.insert(
        caller.tenant_id,
        {
            "_id": str(uuid7()),
            "client_id": client_id,
            **body.model_dump(mode="json"),
            "status": "awaiting_client_signature",
            "written_by": caller.user_id,
            "written_at": utcnow(),
            "part2": episode.get("part2", False),
        },
    )
    await chart.record("create", "clinical/treatment-plan", doc["_id"])
    return _plan(doc)


@router.get(
    "/clients/{client_id}/treatment-plans",
    response_model=PageOut[TreatmentPlan],
    summary="A client's treatment plans",
)
async def list_plans(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    plans: Plans,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[TreatmentPlan]:
    chart = await charts.open(
        client_id, CHART_READERS, action="read", resource="clinical/treatment-plan"
    )
    result = await plans.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", "clinical/treatment-plan")
    return PageOut(items=[_plan(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/treatment-plans/{plan_id}/client-signature",
    response_model=TreatmentPlan,
    summary="Record the client's signature on the plan",
)
async def sign_plan(
    plan_id: str,
    body: ClientSignature,
    caller: CurrentCaller,
    charts: ChartDoor,
    plans: Plans,
) -> TreatmentPlan:
    plan = await plans.get(caller.tenant_id, plan_id)
    if plan is None:
        raise await charts.access.missing(
            "treatment plan", plan_id, action="update", resource="treatment_plan",
            resource_id=plan_id,
        )  # fmt: skip
    chart = await charts.open(
        plan["client_id"],
        CHART_WRITERS,
        action="update",
        resource="clinical/treatment-plan",
        resource_id=plan_id,
    )
    if body.signed_at > datetime.now(body.signed_at.tzinfo):
        raise RuleViolation("the signature date is in the future")
    updated = await plans.update(
        caller.tenant_id,
        {"_id": plan_id, "status": "awaiting_client_signature"},
        {
            "$set": {
                "status": "active",
                "client_signature": body.model_dump(mode="json"),
                "witnessed_by": caller.user_id,
            }
        },
    )
    if updated is None:
        raise Conflict("this plan is already signed")
    await chart.record("update", "clinical/treatment-plan", plan_id)
    return _plan(updated)
