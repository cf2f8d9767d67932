"""Reports for DEA inspection: dispensing log, biennial inventory, per-lot history.

21 CFR 1304.04(h): Schedule I-II records are kept separately from all others, so a
report asks for one schedule group and contains nothing else.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from halcyon.inventory import reporting
from halcyon.inventory.api.common import (
    AUDITORS,
    Clients,
    LedgerRepo,
    LotRepo,
    RefusalsAudited,
    RegistrationRepo,
    Sites,
    Staff,
    audit_client_read,
    load,
)
from halcyon.inventory.domain import activity
from halcyon.inventory.domain.activity import SIGNS
from halcyon.inventory.domain.quantities import mg_text, stored_ug, units_text
from halcyon.inventory.domain.substances import covers
from halcyon.shared.calendar import require_period
from halcyon.shared.csvout import csv_response
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit

router = APIRouter(tags=["reports"], dependencies=[SecondFactor], route_class=RefusalsAudited)
ScheduleGroup = Literal["I-II", "III-V"]
Format = Literal["csv", "pdf", "json"]
GROUPS: dict[str, list[str]] = {"I-II": ["I", "II"], "III-V": ["III", "IV", "V"]}


def _render(
    fmt: Format,
    name: str,
    title: str,
    subtitle: str,
    columns: tuple[reporting.Column, ...],
    rows: list[dict[str, Any]],
) -> Response:
    if fmt == "json":
        return JSONResponse(
            {
                "title": title,
                "subtitle": subtitle,
                "columns": [{"key": c.key, "title": c.title} for c in columns],
                "rows": [{c.key: reporting._text(r.get(c.key)) for c in columns} for r in rows],
            }
        )
    if fmt == "csv":
        body, media = reporting.to_csv(columns, rows), "text/csv"
    else:
        body, media = reporting.to_pdf(title, subtitle, columns, rows), "application/pdf"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def _staff_name(member: Document | None, staff_id: str) -> str:
    if member is None:
        return staff_id
    return f"{member.get('display_name', staff_id)} ({staff_id})"


@router.get(
    "/registrations/{registration_id}/reports/dispensing-log",
    summary="Dispensing log with every 21 CFR 1304.22(c) field (CSV, PDF or JSON)",
)
async def dispensing_log(
    registration_id: str,
    caller: CurrentCaller,
    registrations: RegistrationRepo,
    ledger: LedgerRepo,
    clients: Clients,
    staff: Staff,
    sites: Sites,
    audit: Audit,
    request: Request,
    schedules: ScheduleGroup,
    format: Format = "csv",
    from_date: Annotated[date | None, Query()] = None,
    to_date: Annotated[date | None, Query()] = None,
) -> Response:
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(AUDITORS, registration["site_id"])
    query: dict[str, Any] = {
        "registration_id": registration_id,
        "kind": "dispense",
        "schedule": {"$in": GROUPS[schedules]},
    }
    site = await sites.get(caller.tenant_id, registration["site_id"])
    zone = _zone(site)
    # The period is in the site's days: "1 March" at a Denver site starts at 07:00 UTC.
    window: dict[str, datetime] = {}
    if from_date:
        window["$gte"] = local_day_start(from_date, zone)
    if to_date:
        window["$lt"] = local_day_start(to_date + timedelta(days=1), zone)
    if window:
        query["administered_at"] = window
    entries = await ledger.find(caller.tenant_id, query, sort=[("seq", 1)])
    people: dict[str, Document | None] = {}
    rows = []
    for e in entries:
        if e.get("schedule") not in GROUPS[schedules]:
            continue  # belt and braces: never mix schedule groups (21 CFR 1304.04(h))
        client = await clients.get(caller.tenant_id, e["client_id"])
        for who in (e["administered_by"], e["witness_id"], e["prescriber_id"]):
            if who not in people:
                people[who] = await staff.get(caller.tenant_id, who)
        prescriber = people[e["prescriber_id"]]
        rows.append(
            {
                "registrant_dea_number": e["dea_number"],
                "dispensed_on": e["administered_at"].astimezone(zone),
                "substance": e["substance"],
                "schedule": e["schedule"],
                "form": e["form"],
                "strength_mg": mg_text(stored_ug(e, "strength")),
                "units_per_container": e["units_per_container"],
                "lot_number": e["lot_number"],
                "quantity_mg": mg_text(stored_ug(e, "quantity")),
                "units": e.get("units"),
                "client_name": f"{client['given_name']} {client['family_name']}"
                if client
                else f"(client {e['client_id']})",
                "client_address": _address(client),
                "administered_by": _staff_name(people[e["administered_by"]], e["administered_by"]),
                "witness": _staff_name(people[e["witness_id"]], e["witness_id"]),
                "prescriber": _staff_name(prescriber, e["prescriber_id"]),
                "prescriber_dea_number": _dea_number(prescriber, e["schedule"]),
                "appointment_id": e.get("appointment_id"),
                "supplemental": e.get("supplemental", False),
                "entry_id": e["_id"],
            }
        )
    await audit_client_read(
        audit,
        caller,
        request,
        action="export",
        resource="inventory/dispensing-log",
        resource_id=registration_id,
        client_ids=(e.get("client_id") for e in entries),
        site_id=registration["site_id"],
    )
    subtitle = (
        f"{registration['registrant_name']} · DEA {registration['dea_number']} · Schedules"
        f" {schedules} · {from_date or 'start'} to {to_date or 'today'}"
    )
    return _render(
        format,
        f"dispensing-log-{schedules}",
        "Controlled-substance dispensing log",
        subtitle,
        reporting.DISPENSING_LOG,
        rows,
    )


def local_day_start(day: date, zone: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in the site's zone (as an aware UTC instant)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _zone(site: Document | None) -> tzinfo:
    """The site's IANA zone for display (21 CFR 1304.22(c) asks for the date dispensed;
    the site's calendar day is the one people recognise)."""
    try:
        return ZoneInfo(str(site["timezone"])) if site and site.get("timezone") else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _address(client: Document | None) -> str:
    if not client or not client.get("address"):
        return "(not on file)"
    address = client["address"]
    if isinstance(address, dict):
        return ", ".join(str(v) for v in address.values() if v)
    return str(address)


def _dea_number(member: Document | None, schedule: str) -> str:
    for registration in (member or {}).get("dea_registrations", []):
        if covers(list(registration.get("schedules", [])), schedule):
            return str(registration["number"])
    return ""


@router.get(
    "/registrations/{registration_id}/reports/biennial-inventory",
    summary="The latest initial/biennial inventory (21 CFR 1304.11) as CSV, PDF or JSON",
)
async def biennial_inventory(
    registration_id: str,
    caller: CurrentCaller,
    registrations: RegistrationRepo,
    ledger: LedgerRepo,
    schedules: ScheduleGroup,
    format: Format = "csv",
) -> Response:
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(AUDITORS, registration["site_id"])
    latest = await ledger.find(
        caller.tenant_id,
        {"registration_id": registration_id, "kind": "inventory"},
        sort=[("seq", -1)],
        limit=1,
    )
    rows = []
    taken = "none taken yet"
    if latest:
        inventory = latest[0]
        taken = f"{inventory['inventory_kind']} inventory of {inventory['taken_on']}"
        for item in inventory["items"]:
            if item["schedule"] not in GROUPS[schedules]:
                continue
            strength = stored_ug(item, "strength")
            counted = stored_ug(item, "counted")
            rows.append(
                {
                    **item,
                    "strength_mg": mg_text(strength),
                    "counted_mg": mg_text(counted),
                    "registrant_dea_number": inventory["dea_number"],
                    "taken_on": inventory["taken_on"],
                    "taken_at": f"{inventory['taken_at']} of business",
                    "units": units_text(counted, strength),
                    "containers": units_text(counted, strength * int(item["units_per_container"])),
                }
            )
    subtitle = (
        f"{registration['registrant_name']} · DEA {registration['dea_number']} · Schedules"
        f" {schedules} · {taken}"
    )
    return _render(
        format,
        f"inventory-{schedules}",
        "Controlled-substance inventory",
        subtitle,
        reporting.BIENNIAL_INVENTORY,
        rows,
    )


@router.get(
    "/lots/{lot_id}/history",
    summary="Every ledger entry that moved or counted one lot (CSV, PDF or JSON)",
)
async def lot_history(
    lot_id: str,
    caller: CurrentCaller,
    lots: LotRepo,
    ledger: LedgerRepo,
    audit: Audit,
    request: Request,
    format: Format = "csv",
) -> Response:
    caller.require(AUDITORS)
    lot = await load(lots, caller.tenant_id, lot_id, "lot")
    entries = await ledger.find(
        caller.tenant_id, {"lot_id": lot_id}, sort=[("recorded_at", 1), ("seq", 1)]
    )
    rows = []
    # Only sites where the caller is an auditor: a nurse there does not read the history.
    shown = [e for e in entries if caller.has_role(AUDITORS, str(e.get("site_id")))]
    for e in shown:
        kind = e["kind"]
        if kind == "adjustment":
            change: str | None = mg_text(stored_ug(e, "delta"))
        elif kind in SIGNS:
            change = mg_text(SIGNS[kind] * stored_ug(e, "quantity"))
        else:
            change = None
        rows.append(
            {
                "recorded_at": e["recorded_at"],
                "seq": e["seq"],
                "registrant_dea_number": e.get("dea_number"),
                "kind": kind if kind != "count" else f"count ({e.get('count_kind')})",
                "substance": e.get("substance"),
                "schedule": e.get("schedule"),
                "lot_number": e.get("lot_number"),
                "location_name": e.get("location_name"),
                "change_mg": change,
                "detail": _detail(e),
                "recorded_by": e.get("recorded_by"),
                "entry_id": e["_id"],
            }
        )
    # The history names the clients each dose went to: a read of their records.
    await audit_client_read(
        audit,
        caller,
        request,
        action="read" if format == "json" else "export",
        resource="inventory/lot-history",
        resource_id=lot_id,
        client_ids=(e.get("client_id") for e in shown),
    )
    return _render(
        format,
        f"lot-{lot['lot_number']}",
        f"Lot history: {lot['lot_number']}",
        f"Lot {lot['lot_number']}, expires {lot['expires_on']}",
        reporting.LOT_HISTORY,
        rows,
    )


@router.get(
    "/registrations/{registration_id}/reports/ledger",
    summary="A registration's whole ledger in chain order, with hashes (CSV, PDF or JSON)",
)
async def ledger_export(
    registration_id: str,
    caller: CurrentCaller,
    registrations: RegistrationRepo,
    ledger: LedgerRepo,
    sites: Sites,
    audit: Audit,
    request: Request,
    schedules: ScheduleGroup,
    format: Format = "csv",
) -> Response:
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(AUDITORS, registration["site_id"])
    zone = _zone(await sites.get(caller.tenant_id, registration["site_id"]))
    entries = [
        e
        for e in await ledger.chain(caller.tenant_id, registration_id)
        # Kept apart by schedule group (21 CFR 1304.04(h)); counts of either group and
        # entries with no schedule (none today) go with the group they name.
        if e.get("schedule") in GROUPS[schedules]
    ]
    rows = [_ledger_row(e, zone) for e in entries]
    # Dispenses name their client: the export is a read of each of them (HIPAA).
    await audit_client_read(
        audit, caller, request, action="export", resource="inventory/ledger",
        resource_id=registration_id, site_id=registration["site_id"],
        client_ids=[e.get("client_id") for e in entries],
    )  # fmt: skip
    subtitle = (
        f"{registration['registrant_name']} · DEA {registration['dea_number']}"
        f" · Schedules {schedules}"
    )
    return _render(
        format, f"ledger-{schedules}", "Controlled-substance ledger", subtitle,
        reporting.LEDGER, rows,
    )  # fmt: skip


def _ledger_row(e: Document, zone: tzinfo) -> dict[str, Any]:
    kind = e["kind"]
    if kind == "adjustment":
        change: str | None = mg_text(stored_ug(e, "delta"))
    elif kind in SIGNS:
        change = mg_text(SIGNS[kind] * stored_ug(e, "quantity"))
    else:
        change = None
    return {
        "seq": e["seq"],
        "recorded_at": e["recorded_at"].astimezone(zone),
        "registrant_dea_number": e.get("dea_number"),
        "kind": kind if kind != "count" else f"count ({e.get('count_kind')})",
        "substance": e.get("substance"),
        "schedule": e.get("schedule"),
        "form": e.get("form"),
        "strength_mg": _strength_text(e),
        "lot_number": e.get("lot_number"),
        "location_name": e.get("location_name"),
        "change_mg": change,
        "detail": _detail(e),
        "recorded_by": e.get("recorded_by"),
        "archived": "archived_at" in e,
        "entry_id": e["_id"],
        "prev_hash": e.get("prev_hash"),
        "hash": e.get("hash"),
    }


def _strength_text(entry: Document) -> str | None:
    """The entry's exact strength in mg, or None for an entry without one (a count)."""
    if entry.get("strength_ug") is None and entry.get("strength_mg") is None:
        return None
    return mg_text(stored_ug(entry, "strength"))


def _detail(entry: Document) -> str:
    kind = entry["kind"]
    if kind == "receipt":
        return f"order {entry.get('order_form_number') or '-'} from {entry.get('supplier_name')}"
    if kind == "dispense":
        return f"appointment {entry.get('appointment_id')}, client {entry.get('client_id')}"
    if kind in {"waste", "destruction"}:
        return f"{entry.get('method')}; witnesses {', '.join(entry.get('witness_ids', []))}"
    if kind == "count":
        return (
            f"book {mg_text(stored_ug(entry, 'book'))} mg,"
            f" counted {mg_text(stored_ug(entry, 'counted'))} mg"
        )
    if kind == "adjustment":
        return str(entry.get("reason"))
    if kind.startswith("transfer"):
        return f"counterpart {entry.get('counterpart_entry_id')}"
    return ""


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
    registration_id: str, caller: CurrentCaller, registrations: RegistrationRepo,
    ledger: LedgerRepo, sites: Sites, audit: Audit, request: Request,
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:  # fmt: skip
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(AUDITORS, registration["site_id"])
    require_period(start, end)
    zone = _zone(await sites.get(caller.tenant_id, registration["site_id"]))
    entries = await ledger.chain(caller.tenant_id, registration_id)
    rows = activity.activity(
        entries, lambda e: e["recorded_at"].astimezone(zone).date(), start, end
    )
    # Amounts per product, no client named: the read is on record without one.
    await audit.record_reads(
        caller, resource="inventory/activity", resource_id=registration_id,
        site_id=registration["site_id"], client_ids=(), request=request,
    )  # fmt: skip
    if format == "csv":
        return csv_response(f"activity-{start}-{end}", ACTIVITY_COLUMNS, rows)
    return {
        "registration_id": registration_id,
        "dea_number": registration["dea_number"],
        "from": start.isoformat(),
        "to": end.isoformat(),
        "rows": rows,
    }
