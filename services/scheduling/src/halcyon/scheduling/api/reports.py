"""Attendance dashboard: no-show and late-cancel rates, as JSON or CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from halcyon.scheduling.api.common import ID_PATTERN
from halcyon.scheduling.api.deps import AppointmentsRepo
from halcyon.scheduling.usecases.attendance import attendance_report
from halcyon.shared.access import Access
from halcyon.shared.csvout import csv_response

router = APIRouter(tags=["reports"])
REPORT_READERS = frozenset({"agency_admin", "compliance_officer", "biller", "front_desk"})
COLUMNS = (
    "dimension", "key", "held", "no_shows", "late_cancels", "no_show_rate_pct",
    "late_cancel_rate_pct",
)  # fmt: skip


@router.get("/reports/attendance", summary="No-show and late-cancel rates", response_model=None)
async def attendance(
    access: Access, appointments: AppointmentsRepo,
    site_id: Annotated[str, Query(pattern=ID_PATTERN)],
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    await access.require(REPORT_READERS, site_id, action="read", resource="attendance")
    report = await attendance_report(appointments, access.tenant_id, site_id, start, end)
    if format == "csv":
        return csv_response(f"attendance-{start}-{end}", COLUMNS, report["rows"])
    return report
