"""Dashboards: AR aging, denials by reason, attendance, billable units per clinician,
outcomes per program and controlled-substance activity per registration; each with its
CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from halcyon.console.api import ApiError
from halcyon.console.web import PREFIX, current

router = APIRouter(prefix=PREFIX)
# Console name -> (gateway path, which period parameters it takes).
UPSTREAM = {
    "ar-aging": ("/api/billing/reports/ar-aging", ("as_of",)),
    "denials": ("/api/billing/reports/denials", ("from", "to")),
    "attendance": ("/api/scheduling/reports/attendance", ("from", "to")),
    "billable-units": ("/api/billing/reports/billable-units", ("from", "to")),
    "outcomes": ("/api/clinical/reports/outcomes", ("from", "to")),
}
# Controlled-substance activity is per DEA registration: one report for each at the site.
ACTIVITY = "activity-"


def period(today: date, start: str, end: str, as_of: str) -> dict[str, str]:
    """The period shown: the last 30 site-local days unless the person chose one."""
    return {
        "from": start or (today - timedelta(days=30)).isoformat(),
        "to": end or today.isoformat(),
        "as_of": as_of or today.isoformat(),
    }


def _today(zone: str | None) -> date:
    return datetime.now(ZoneInfo(zone) if zone else UTC).date()


@router.get("/dashboards")
async def dashboards(request: Request, start: str = "", end: str = "", as_of: str = "") -> Response:
    console, session, api = current(request)
    site = session.site_id or ""
    when = period(_today(session.site_zones.get(site)), start, end, as_of)
    errors: list[str] = []
    reports: dict[str, Any] = {}
    for name, (path, keys) in UPSTREAM.items():
        try:
            reports[name] = await api.get(path, site_id=site, **{k: when[k] for k in keys})
        except ApiError as exc:
            reports[name] = None
            if exc.status != 403:  # a report the person's role may not see is just absent
                errors.extend(exc.words)
    activity: list[dict[str, Any]] = []
    try:
        registrations = await api.items("/api/inventory/registrations")
    except ApiError:
        registrations = []  # not a role that sees the controlled-substance books
    for registration in registrations:
        if registration.get("site_id") != site:
            continue
        try:
            report = await api.get(
                _activity_path(str(registration["id"])), **{"from": when["from"], "to": when["to"]}
            )
        except ApiError as exc:
            if exc.status != 403:
                errors.extend(exc.words)
            continue
        activity.append({**report, "registrant_name": registration.get("registrant_name")})
    return console.render(
        request, "dashboards.html", session, reports=reports, activity=activity, when=when,
        errors=errors,
    )  # fmt: skip


def _activity_path(registration_id: str) -> str:
    return f"/api/inventory/registrations/{registration_id}/reports/activity"


@router.get("/dashboards/{name}.csv")
async def dashboard_csv(
    request: Request, name: str, start: str = "", end: str = "", as_of: str = ""
) -> Response:
    console, session, api = current(request)
    registration_id = name.removeprefix(ACTIVITY) if name.startswith(ACTIVITY) else ""
    if name not in UPSTREAM and not registration_id.replace("-", "").isalnum():
        return console.render(
            request, "error.html", session, errors=["No such report."], status=404
        )
    site = session.site_id or ""
    when = period(_today(session.site_zones.get(site)), start, end, as_of)
    path, keys = (
        (_activity_path(registration_id), ("from", "to")) if registration_id else UPSTREAM[name]
    )
    params = {"site_id": site, "format": "csv", **{k: when[k] for k in keys}}
    upstream = await api.raw("GET", path, params=params)
    if upstream.status_code != 200:
        try:
            problem = upstream.json()
        except ValueError:
            problem = {}
        words = ApiError(upstream.status_code, problem if isinstance(problem, dict) else {}).words
        return console.render(
            request, "error.html", session, errors=words, status=upstream.status_code
        )
    return Response(
        upstream.content,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
