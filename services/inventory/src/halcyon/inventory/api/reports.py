"""Reports for DEA inspection: dispensing log, biennial inventory, per-lot history.

21 CFR 1304.04(h): Schedule I-II records are kept separately from all others, so a
report asks for one schedule group and contains nothing else.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from halcyon.inventory import reporting
from halcyon.inventory.api.common import RefusalsAudited
from halcyon.inventory.api.deps import DeaReports
from halcyon.inventory.domain import activity
from halcyon.inventory.usecases.reports import Report
from halcyon.shared.access import Access
from halcyon.shared.csvout import csv_response
from halcyon.shared.http.deps import SecondFactor

router = APIRouter(tags=["reports"], dependencies=[SecondFactor], route_class=RefusalsAudited)
ScheduleGroup = Literal["I-II", "III-V"]
Format = Literal["csv", "pdf", "json"]


def _render(fmt: Format, report: Report) -> Response:
    if fmt == "json":
        return JSONResponse(
            {
                "title": report.title,
                "subtitle": report.subtitle,
                "columns": [{"key": c.key, "title": c.title} for c in report.columns],
                "rows": [
                    {c.key: reporting._text(r.get(c.key)) for c in report.columns}
                    for r in report.rows
                ],
            }
        )
    if fmt == "csv":
        body, media = reporting.to_csv(report.columns, report.rows), "text/csv"
    else:
        body = reporting.to_pdf(report.title, report.subtitle, report.columns, report.rows)
        media = "application/pdf"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{report.name}.{fmt}"'},
    )


@router.get(
    "/registrations/{registration_id}/reports/dispensing-log",
    summary="Dispensing log with every 21 CFR 1304.22(c) field (CSV, PDF or JSON)",
)
async def dispensing_log(
    registration_id: str,
    access: Access,
    reports: DeaReports,
    schedules: ScheduleGroup,
    format: Format = "csv",
    from_date: Annotated[date | None, Query()] = None,
    to_date: Annotated[date | None, Query()] = None,
) -> Response:
    report = await reports.dispensing_log(access, registration_id, schedules, from_date, to_date)
    return _render(format, report)


@router.get(
    "/registrations/{registration_id}/reports/biennial-inventory",
    summary="The latest initial/biennial inventory (21 CFR 1304.11) as CSV, PDF or JSON",
)
async def biennial_inventory(
    registration_id: str,
    access: Access,
    reports: DeaReports,
    schedules: ScheduleGroup,
    format: Format = "csv",
) -> Response:
    return _render(format, await reports.biennial_inventory(access, registration_id, schedules))


@router.get(
    "/lots/{lot_id}/history",
    summary="Every ledger entry that moved or counted one lot (CSV, PDF or JSON)",
)
async def lot_history(
    lot_id: str, access: Access, reports: DeaReports, format: Format = "csv"
) -> Response:
    return _render(format, await reports.lot_history(access, lot_id, format))


@router.get(
    "/registrations/{registration_id}/reports/ledger",
    summary="A registration's whole ledger in chain order, with hashes (CSV, PDF or JSON)",
)
async def ledger_export(
    registration_id: str,
    access: Access,
    reports: DeaReports,
    schedules: ScheduleGroup,
    format: Format = "csv",
) -> Response:
    return _render(format, await reports.ledger(access, registration_id, schedules))


ACTIVITY_COLUMNS = (
    "substance", "schedule", "form", "strength_mg", "opening_mg",
    *(f"{m}_mg" for m in activity.MOVEMENTS), "closing_mg", "dispenses", "product_id",
)  # fmt: skip


@router.get(
    "/registrations/{registration_id}/reports/activity",
    summary="Controlled-substance activity per product over a period of the site's days: "
    "opening balance, receipts, dispenses, waste, transfers, adjustments, closing balance",
    response_model=None,
)
async def activity_report(
    registration_id: str, access: Access, reports: DeaReports,
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    registration, rows = await reports.activity(access, registration_id, start, end)
    if format == "csv":
        return csv_response(f"activity-{start}-{end}", ACTIVITY_COLUMNS, rows)
    return {
        "registration_id": registration_id,
        "dea_number": registration["dea_number"],
        "from": start.isoformat(),
        "to": end.isoformat(),
        "rows": rows,
    }
