"""Follow-ups of a count: the discrepancy and, for a suspected theft or loss, the DEA
deadlines. Shared by the routes and by the sweep that repairs a follow-up a crash cut off
(the count entry is in the ledger; the discrepancy it names is not yet recorded)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from halcyon.inventory.domain.deadlines import site_date, theft_loss_deadlines
from halcyon.inventory.domain.quantities import mg_float
from halcyon.inventory.runtime import EventMaker
from halcyon.inventory.store import Deadlines, Discrepancies, SiteDirectory
from halcyon.shared.contracts.inventory import ComplianceDeadlineDue, DiscrepancyOpened
from halcyon.shared.errors import Conflict
from halcyon.shared.mongo import Document, DuplicateRecord
from uuid6 import uuid7


async def open_discrepancy(
    discrepancies: Discrepancies,
    events: EventMaker,
    tenant_id: str,
    *,
    site_id: str,
    registration_id: str,
    lot_id: str | None,
    location_id: str | None,
    expected: int,
    counted: int,
    suspected_theft_or_loss: bool,
    source_entry_id: str,
    opened_by: str,
    discrepancy_id: str | None = None,
) -> Document:
    """A count that differs from the book opens a discrepancy (21 CFR 1304.21(a): records
    must be complete and accurate, so a difference is investigated, never overwritten)."""
    discrepancy_id = discrepancy_id or str(uuid7())
    event = DiscrepancyOpened(
        discrepancy_id=discrepancy_id,
        site_id=site_id,
        registration_id=registration_id,
        lot_id=lot_id,
        expected=mg_float(expected),
        counted=mg_float(counted),
        expected_ug=expected,
        counted_ug=counted,
        suspected_theft_or_loss=suspected_theft_or_loss,
    )
    try:
        return await discrepancies.insert(
            tenant_id,
            {
                "_id": discrepancy_id,
                "site_id": site_id,
                "registration_id": registration_id,
                "lot_id": lot_id,
                "location_id": location_id,
                "expected_ug": expected,
                "counted_ug": counted,
                "difference_ug": counted - expected,
                "suspected_theft_or_loss": suspected_theft_or_loss,
                "source_entry_id": source_entry_id,
                "status": "open",
                "opened_at": datetime.now(UTC),
                "opened_by": opened_by,
            },
            [events(event, tenant_id=tenant_id)],
        )
    except DuplicateRecord:
        # Opened already (a repeated follow-up of the same count): the first one stands.
        existing = await discrepancies.get(tenant_id, discrepancy_id)
        if existing is None:  # the id is taken outside this agency: nothing to show
            raise Conflict(f"discrepancy id {discrepancy_id} is already taken") from None
        return existing


async def start_theft_loss_deadlines(
    deadlines: Deadlines,
    events: EventMaker,
    tenant_id: str,
    discrepancy: Document,
    discovered_on: date,
) -> list[Document]:
    """21 CFR 1301.76(b): written notice to the DEA within one business day of discovering
    a theft or significant loss, and DEA Form 106 within 45 days. Both are tracked until
    someone records that they were done. Ids are deterministic: starting twice is harmless."""
    started = []
    for kind, due_on in theft_loss_deadlines(discovered_on).items():
        deadline_id = f"{discrepancy['_id']}:{kind}"
        event = ComplianceDeadlineDue(
            deadline_id=deadline_id,
            site_id=discrepancy["site_id"],
            kind=kind,
            due_on=due_on,
            discrepancy_id=discrepancy["_id"],
        )
        doc = {
            "_id": deadline_id,
            "site_id": discrepancy["site_id"],
            "registration_id": discrepancy["registration_id"],
            "discrepancy_id": discrepancy["_id"],
            "kind": kind,
            "due_on": due_on.isoformat(),
            "status": "open",
            "created_at": datetime.now(UTC),
        }
        try:
            started.append(
                await deadlines.insert(tenant_id, doc, [events(event, tenant_id=tenant_id)])
            )
        except DuplicateRecord:
            existing = await deadlines.get(tenant_id, deadline_id)
            if existing is not None:
                started.append(existing)
    return started


async def follow_up_count(
    discrepancies: Discrepancies,
    deadlines: Deadlines,
    events: EventMaker,
    tenant_id: str,
    entry: Document,
    site_timezone: str | None = None,
) -> tuple[Document | None, list[Document]]:
    """Open the discrepancy a count entry names (and its deadlines). Idempotent: the ids
    are derived from the entry, so the route and the repair sweep agree. The theft/loss
    clock starts on the site's day of the count, not UTC's."""
    discrepancy_id = entry.get("discrepancy_id")
    if not discrepancy_id:
        return None, []
    discrepancy = await open_discrepancy(
        discrepancies,
        events,
        tenant_id,
        site_id=entry["site_id"],
        registration_id=entry["registration_id"],
        lot_id=entry["lot_id"],
        location_id=entry["location_id"],
        expected=int(entry["book_ug"]),
        counted=int(entry["counted_ug"]),
        suspected_theft_or_loss=bool(entry.get("suspected_theft_or_loss")),
        source_entry_id=entry["_id"],
        opened_by=entry["counted_by"],
        discrepancy_id=discrepancy_id,
    )
    started: list[Document] = []
    if entry.get("suspected_theft_or_loss"):
        discovered: datetime = entry["recorded_at"]
        started = await start_theft_loss_deadlines(
            deadlines, events, tenant_id, discrepancy, site_date(discovered, site_timezone)
        )
    return discrepancy, started


async def repair_count_follow_ups(
    ledger_entries: list[Document],
    discrepancies: Discrepancies,
    deadlines: Deadlines,
    events: EventMaker,
    sites: SiteDirectory | None = None,
) -> int:
    repaired = 0
    for entry in ledger_entries:
        tenant = entry["tenant_id"]
        if await discrepancies.get(tenant, entry["discrepancy_id"]) is None:
            site = await sites.get(tenant, entry["site_id"]) if sites else None
            zone = site.get("timezone") if site else None
            await follow_up_count(discrepancies, deadlines, events, tenant, entry, zone)
            repaired += 1
    return repaired
