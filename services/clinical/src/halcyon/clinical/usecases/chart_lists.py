"""Medication, allergy and problem lists: add, list, change, stop; each audited."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from halcyon.clinical.domain import chart_lists
from halcyon.clinical.domain.chart_lists import ListSpec, StopRequest
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.store import SiteDirectory
from halcyon.clinical.usecases.chart import Chart
from halcyon.shared.errors import Conflict, NotFound
from halcyon.shared.mongo import Document, Page, TenantRepository
from uuid6 import uuid7


async def site_today(sites: SiteDirectory, tenant_id: str, site_id: str, now: datetime) -> date:
    """Today at the site (the day people act on); UTC until the site's zone is known."""
    site = await sites.get(tenant_id, site_id)
    zone = site.get("timezone") if site else None
    return now.astimezone(ZoneInfo(zone)).date() if zone else now.date()


def _resource(spec: ListSpec) -> str:
    return f"clinical/{spec.singular}"


async def add(
    chart: Chart,
    entries: TenantRepository,
    sites: SiteDirectory,
    spec: ListSpec,
    body: chart_lists.ListEntry,
) -> Document:
    now = utcnow()
    today = await site_today(sites, chart.tenant_id, chart.site_id, now)
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": chart.client_id,
        **chart_lists.new_entry(body, today),
        "recorded_by": chart.caller.user_id,
        "recorded_at": now,
    }
    saved = await entries.insert(chart.tenant_id, doc)
    await chart.record("create", _resource(spec), saved["_id"])
    return saved


async def list_entries(
    chart: Chart,
    entries: TenantRepository,
    spec: ListSpec,
    *,
    current_only: bool,
    limit: int,
    cursor: str | None,
) -> Page:
    query: dict[str, Any] = {"client_id": chart.client_id}
    if current_only:
        query["stopped_on"] = None
        query["verification_status"] = {"$nin": sorted(chart_lists.NOT_TRUE)}
    page = await entries.page(chart.tenant_id, query, limit=limit, cursor=cursor)
    await chart.record("read", _resource(spec))
    return page


async def load(
    entries: TenantRepository, tenant_id: str, spec: ListSpec, entry_id: str
) -> Document:
    found = await entries.get(tenant_id, entry_id)
    if found is None:
        raise NotFound(f"no {spec.singular} {entry_id} in your agency")
    return found


async def change(
    chart: Chart,
    entries: TenantRepository,
    sites: SiteDirectory,
    spec: ListSpec,
    current: Document,
    body: chart_lists.ListChange,
) -> Document:
    now = utcnow()
    today = await site_today(sites, chart.tenant_id, chart.site_id, now)
    sent = chart_lists.changes(current, body, today)
    return await _write(chart, entries, spec, current, sent, now)


async def stop(
    chart: Chart,
    entries: TenantRepository,
    sites: SiteDirectory,
    spec: ListSpec,
    current: Document,
    body: StopRequest,
) -> Document:
    now = utcnow()
    today = await site_today(sites, chart.tenant_id, chart.site_id, now)
    stopped = chart_lists.stop(current, body, today)
    return await _write(chart, entries, spec, current, stopped, now)


async def _write(
    chart: Chart,
    entries: TenantRepository,
    spec: ListSpec,
    current: Document,
    fields: dict[str, Any],
    now: datetime,
) -> Document:
    # Conditional on the stop date read: a concurrent stop is not overwritten silently.
    query = {"_id": current["_id"], "stopped_on": current.get("stopped_on")}
    update = {"$set": {**fields, "updated_by": chart.caller.user_id, "updated_at": now}}
    saved = await entries.update(chart.tenant_id, query, update)
    if saved is None:
        raise Conflict(f"the {spec.singular} changed meanwhile; read it again")
    await chart.record("update", _resource(spec), saved["_id"])
    return saved
