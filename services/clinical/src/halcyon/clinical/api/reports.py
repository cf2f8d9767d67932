"""The outcomes dashboard: PHQ-9, GAD-7 and PCL-5 change from baseline per program."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from halcyon.clinical.store import AssessmentRepository, EpisodeRepository, SiteDirectory
from halcyon.clinical.usecases.chart import CHART_READERS
from halcyon.clinical.usecases.outcomes import outcomes_report
from halcyon.shared.csvout import csv_response
from halcyon.shared.errors import DomainError
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit, repository

router = APIRouter(tags=["dashboards"])
Episodes = Annotated[EpisodeRepository, repository(EpisodeRepository)]
Assessments = Annotated[AssessmentRepository, repository(AssessmentRepository)]
Sites = Annotated[SiteDirectory, repository(SiteDirectory)]
COLUMNS = (
    "program", "instrument", "clients", "mean_baseline", "mean_latest", "mean_change",
    "improved", "unchanged", "worsened",
)  # fmt: skip
RESOURCE = "clinical/outcomes"


@router.get(
    "/reports/outcomes",
    summary="Outcomes per program: PHQ-9, GAD-7, PCL-5 change from baseline (JSON or CSV)",
    response_model=None,
)
async def outcomes(
    site_id: str, caller: CurrentCaller, episodes: Episodes, assessments: Assessments,
    sites: Sites, audit: Audit, request: Request,
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    try:
        caller.require(CHART_READERS, site_id)
    except DomainError as exc:
        await audit.record(
            caller, action="read", resource=RESOURCE, site_id=site_id, outcome="denied",
            reason=exc.detail, request=request,
        )  # fmt: skip
        raise
    report = await outcomes_report(
        episodes, assessments, sites, caller.tenant_id, site_id, start, end
    )
    # Means and counts per program, no client named: the read is on record without one.
    await audit.record_reads(
        caller, resource=RESOURCE, site_id=site_id, client_ids=(), request=request
    )
    if format == "csv":
        return csv_response(f"outcomes-{start}-{end}", COLUMNS, report["rows"])
    return report
