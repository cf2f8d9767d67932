"""Dashboards: AR aging, denials by reason, attendance; each with its CSV."""

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
}


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
    return console.render(
        request, "dashboards.html", session, reports=reports, when=when, errors=errors
    )


@router.get("/dashboards/{name}.csv")
async def dashboard_csv(
    request: Request, name: str, start: str = "", end: str = "", as_of: str = ""
) -> Response:
    console, session, api = current(request)
    if name not in UPSTREAM:
        return console.render(
            request, "error.html", session, errors=["No such report."], status=404
        )
    site = session.site_id or ""
    when = period(_today(session.site_zones.get(site)), start, end, as_of)
    path, keys = UPSTREAM[name]
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
