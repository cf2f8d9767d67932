"""The outcomes dashboard: PHQ-9, GAD-7 and PCL-5 change from baseline per program."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from halcyon.clinical.store import AssessmentRepository, EpisodeRepository, SiteDirectory
from halcyon.clinical.usecases.chart import CHART_READERS
from halcyon.clinical.usecases.outcomes import outcomes_report
from halcyon.shared.access import Access
from halcyon.shared.csvout import csv_response
from halcyon.shared.service import repository

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
    site_id: str, access: Access, episodes: Episodes, assessments: Assessments, sites: Sites,
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    await access.require(CHART_READERS, site_id, action="read", resource=RESOURCE)
    report = await outcomes_report(
        episodes, assessments, sites, access.tenant_id, site_id, start, end
    )
    # Means and counts per program, no client named: the read is on record without one.
    await access.audit.record_reads(
        access.caller, resource=RESOURCE, site_id=site_id, client_ids=(), request=access.request
    )
    if format == "csv":
        return csv_response(f"outcomes-{start}-{end}", COLUMNS, report["rows"])
    return report
