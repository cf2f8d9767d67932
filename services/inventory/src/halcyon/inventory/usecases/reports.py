"""DEA inspection reports: what goes in each, and the record that someone read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from halcyon.inventory import reporting
from halcyon.inventory.domain import activity, report_rows
from halcyon.inventory.domain.report_rows import GROUPS
from halcyon.inventory.domain.roles import AUDITORS
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import (
    ClientDirectory,
    Ledger,
    Lots,
    Registrations,
    SiteDirectory,
    StaffDirectory,
)
from halcyon.shared.access import RecordAccess
from halcyon.shared.calendar import require_period
from halcyon.shared.mongo import Document


@dataclass(frozen=True)
class Report:
    """A report's rows and how it is titled; ``api`` renders it as CSV, PDF or JSON."""

    name: str
    title: str
    subtitle: str
    columns: tuple[reporting.Column, ...]
    rows: list[dict[str, Any]]


def _heading(registration: Document, schedules: str) -> str:
    return (
        f"{registration['registrant_name']} · DEA {registration['dea_number']} · Schedules"
        f" {schedules}"
    )


class Reports:
    def __init__(self, runtime: InventoryRuntime) -> None:
        self._runtime = runtime
        self._ledger = runtime.repo(Ledger)
        self._sites = runtime.repo(SiteDirectory)

    async def _registration(
        self, access: RecordAccess, registration_id: str, report: str
    ) -> Document:
        return await access.open(
            self._runtime.repo(Registrations),
            registration_id,
            AUDITORS,
            action="read",
            resource=f"inventory/registrations/{{registration_id}}/reports/{report}",
            what="registration",
        )

    async def dispensing_log(
        self,
        access: RecordAccess,
        registration_id: str,
        schedules: str,
        from_date: date | None,
        to_date: date | None,
    ) -> Report:
        """Every 21 CFR 1304.22(c) field of each dispense in the period (the site's days)."""
        tenant = access.tenant_id
        registration = await self._registration(access, registration_id, "dispensing-log")
        query: dict[str, Any] = {
            "registration_id": registration_id,
            "kind": "dispense",
            "schedule": {"$in": GROUPS[schedules]},
        }
        zone = report_rows.site_zone(await self._sites.get(tenant, registration["site_id"]))
        # The period is in the site's days: "1 March" at a Denver site starts at 07:00 UTC.
        window: dict[str, datetime] = {}
        if from_date:
            window["$gte"] = report_rows.local_day_start(from_date, zone)
        if to_date:
            window["$lt"] = report_rows.local_day_start(to_date + timedelta(days=1), zone)
        if window:
            query["administered_at"] = window
        entries = await self._ledger.find(tenant, query, sort=[("seq", 1)])
        rows = await self._dispensing_rows(tenant, entries, schedules, zone)
        await access.audit.record_reads(
            access.caller, action="export", resource="inventory/dispensing-log",
            resource_id=registration_id, client_ids=(e.get("client_id") for e in entries),
            site_id=registration["site_id"], request=access.request,
        )  # fmt: skip
        return Report(
            f"dispensing-log-{schedules}",
            "Controlled-substance dispensing log",
            f"{_heading(registration, schedules)} · {from_date or 'start'} to {to_date or 'today'}",
            reporting.DISPENSING_LOG,
            rows,
        )

    async def _dispensing_rows(
        self, tenant: str, entries: list[Document], schedules: str, zone: Any
    ) -> list[dict[str, Any]]:
        clients = self._runtime.repo(ClientDirectory)
        staff = self._runtime.repo(StaffDirectory)
        people: dict[str, Document | None] = {}
        rows = []
        for e in entries:
            if e.get("schedule") not in GROUPS[schedules]:
                continue  # belt and braces: never mix schedule groups (21 CFR 1304.04(h))
            client = await clients.get(tenant, e["client_id"])
            for who in (e["administered_by"], e["witness_id"], e["prescriber_id"]):
                if who not in people:
                    people[who] = await staff.get(tenant, who)
            rows.append(report_rows.dispensing_row(e, zone, client, people))
        return rows

    async def biennial_inventory(
        self, access: RecordAccess, registration_id: str, schedules: str
    ) -> Report:
        """The latest initial/biennial inventory (21 CFR 1304.11)."""
        registration = await self._registration(access, registration_id, "biennial-inventory")
        latest = await self._ledger.find(
            access.tenant_id,
            {"registration_id": registration_id, "kind": "inventory"},
            sort=[("seq", -1)],
            limit=1,
        )
        rows: list[dict[str, Any]] = []
        taken = "none taken yet"
        if latest:
            inventory = latest[0]
            taken = f"{inventory['inventory_kind']} inventory of {inventory['taken_on']}"
            rows = report_rows.inventory_rows(inventory, schedules)
        return Report(
            f"inventory-{schedules}",
            "Controlled-substance inventory",
            f"{_heading(registration, schedules)} · {taken}",
            reporting.BIENNIAL_INVENTORY,
            rows,
        )

    async def lot_history(self, access: RecordAccess, lot_id: str, fmt: str) -> Report:
        """Every ledger entry that moved or counted one lot, at the caller's audited sites."""
        await access.require(
            AUDITORS, None, action="read", resource="inventory/lots/{lot_id}/history",
            resource_id=lot_id,
        )  # fmt: skip
        lot = await access.open(
            self._runtime.repo(Lots), lot_id, AUDITORS, action="read",
            resource="inventory/lots/{lot_id}/history", what="lot", site_of=lambda _lot: None,
        )  # fmt: skip
        entries = await self._ledger.find(
            access.tenant_id, {"lot_id": lot_id}, sort=[("recorded_at", 1), ("seq", 1)]
        )
        # Only sites where the caller is an auditor: a nurse there does not read the history.
        shown = [e for e in entries if access.caller.has_role(AUDITORS, str(e.get("site_id")))]
        # The history names the clients each dose went to: a read of their records.
        await access.audit.record_reads(
            access.caller, action="read" if fmt == "json" else "export",
            resource="inventory/lot-history", resource_id=lot_id,
            client_ids=(e.get("client_id") for e in shown), request=access.request,
        )  # fmt: skip
        return Report(
            f"lot-{lot['lot_number']}",
            f"Lot history: {lot['lot_number']}",
            f"Lot {lot['lot_number']}, expires {lot['expires_on']}",
            reporting.LOT_HISTORY,
            [report_rows.lot_history_row(e) for e in shown],
        )

    async def ledger(self, access: RecordAccess, registration_id: str, schedules: str) -> Report:
        """A registration's whole ledger in chain order, with hashes."""
        tenant = access.tenant_id
        registration = await self._registration(access, registration_id, "ledger")
        zone = report_rows.site_zone(await self._sites.get(tenant, registration["site_id"]))
        entries = [
            e
            for e in await self._ledger.chain(tenant, registration_id)
            # Kept apart by schedule group (21 CFR 1304.04(h)); counts of either group and
            # entries with no schedule (none today) go with the group they name.
            if e.get("schedule") in GROUPS[schedules]
        ]
        # Dispenses name their client: the export is a read of each of them (HIPAA).
        await access.audit.record_reads(
            access.caller, action="export", resource="inventory/ledger",
            resource_id=registration_id, site_id=registration["site_id"],
            client_ids=[e.get("client_id") for e in entries], request=access.request,
        )  # fmt: skip
        return Report(
            f"ledger-{schedules}",
            "Controlled-substance ledger",
            _heading(registration, schedules),
            reporting.LEDGER,
            [report_rows.ledger_row(e, zone) for e in entries],
        )

    async def activity(
        self, access: RecordAccess, registration_id: str, start: date, end: date
    ) -> tuple[Document, list[dict[str, Any]]]:
        """Activity per product over a period of the site's days (no client named)."""
        registration = await self._registration(access, registration_id, "activity")
        require_period(start, end)
        zone = report_rows.site_zone(
            await self._sites.get(access.tenant_id, registration["site_id"])
        )
        entries = await self._ledger.chain(access.tenant_id, registration_id)
        rows = activity.activity(
            entries, lambda e: e["recorded_at"].astimezone(zone).date(), start, end
        )
        # Amounts per product, no client named: the read is on record without one.
        await access.audit.record_reads(
            access.caller, resource="inventory/activity", resource_id=registration_id,
            site_id=registration["site_id"], client_ids=(), request=access.request,
        )  # fmt: skip
        return registration, rows
