"""Billing dashboards: AR aging and denials by reason, as JSON or CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from halcyon.billing.api.common import BILLERS
from halcyon.billing.api.deps import Charges, Claims, Payments, Staff
from halcyon.billing.api.deps import Sites as SitesRepo
from halcyon.billing.usecases import dashboards
from halcyon.shared.access import Access
from halcyon.shared.csvout import csv_response
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit

router = APIRouter(tags=["dashboards"])
REPORT_READERS = BILLERS | {"compliance_officer"}
Format = Literal["json", "csv"]
AGING_COLUMNS = (
    "claim_number", "payer", "client_id", "service_date", "status", "age_days", "bucket",
    "outstanding_cents",
)  # fmt: skip
DENIAL_COLUMNS = ("code", "group", "carc", "denials", "amount_cents")
UNITS_COLUMNS = (
    "staff_id", "clinician", "cpt", "units", "held_units", "charges", "amount_cents",
)  # fmt: skip


@router.get(
    "/reports/ar-aging", summary="Accounts receivable by age of service", response_model=None
)
async def ar_aging(
    site_id: str, as_of: date, caller: CurrentCaller, access: Access, claims: Claims,
    audit: Audit, request: Request, format: Format = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    await access.require(REPORT_READERS, site_id, action="read", resource="ar_aging")
    report = await dashboards.ar_aging(claims, caller.tenant_id, site_id, as_of)
    # Each row names a client and what they owe: a read of that client's account.
    await audit.record_reads(
        caller, resource="ar_aging", site_id=site_id, request=request,
        client_ids=(str(row["client_id"]) for row in report["claims"]),
    )  # fmt: skip
    if format == "csv":
        return csv_response(f"ar-aging-{as_of}", AGING_COLUMNS, report["claims"])
    return report


@router.get("/reports/denials", summary="Denials by reason (CARC)", response_model=None)
async def denials(
    site_id: str, caller: CurrentCaller, access: Access, claims: Claims, payments: Payments,
    sites: SitesRepo, audit: Audit, request: Request,
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
    format: Format = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    await access.require(REPORT_READERS, site_id, action="read", resource="denials")
    report = await dashboards.denials(
        claims, payments, sites, caller.tenant_id, site_id, start, end
    )
    # Totals by reason, no client named: the read is on record without one.
    await audit.record_reads(
        caller, resource="denials", site_id=site_id, client_ids=(), request=request
    )
    if format == "csv":
        return csv_response(f"denials-{start}-{end}", DENIAL_COLUMNS, report["reasons"])
    return report


@router.get(
    "/reports/billable-units",
    summary="Billable units per clinician and CPT code, by date of service",
    response_model=None,
)
async def billable_units(
    site_id: str, caller: CurrentCaller, access: Access, charges: Charges, staff: Staff,
    audit: Audit, request: Request, start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")], format: Format = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    await access.require(REPORT_READERS, site_id, action="read", resource="billable_units")
    report = await dashboards.billable_units(charges, staff, caller.tenant_id, site_id, start, end)
    # Totals per clinician, no client named: the read is on record without one.
    await audit.record_reads(
        caller, resource="billable_units", site_id=site_id, client_ids=(), request=request
    )
    if format == "csv":
        return csv_response(f"billable-units-{start}-{end}", UNITS_COLUMNS, report["rows"])
    return report
