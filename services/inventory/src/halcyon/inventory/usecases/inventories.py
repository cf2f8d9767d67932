"""Counts and inventories: the book compared with what is on the shelf (21 CFR 1304.11)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from halcyon.inventory.domain import rules
from halcyon.inventory.domain.models import CountIn, InventoryIn
from halcyon.inventory.domain.quantities import mg_to_ug
from halcyon.inventory.domain.roles import HANDLERS, MANAGERS
from halcyon.inventory.domain.stock import StockPlace
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import (
    Balances,
    Deadlines,
    Discrepancies,
    Ledger,
    Postings,
    Registrations,
    SiteDirectory,
)
from halcyon.inventory.usecases.follow_ups import follow_up_count, open_discrepancy
from halcyon.inventory.usecases.posting import (
    EntryDraft,
    Movement,
    Posting,
    balance_id,
    entry_id,
    ledger_writer,
)
from halcyon.inventory.usecases.stock import (
    movement,
    open_stock_place,
    site_timezone,
    site_today,
    stock_place,
)
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import Conflict, RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

INITIAL_CLAIM_GRACE = timedelta(minutes=2)


@dataclass
class Counted:
    """A count's or inventory's ledger entry and what it started."""

    entry: Document
    discrepancy: Document | None = None
    deadlines: list[Document] = field(default_factory=list)


async def has_initial_inventory(ledger: Ledger, tenant_id: str, registration: Document) -> bool:
    """The initial inventory is taken when its ledger entry exists (the registration's
    claim alone could be one a crash cut off before the entry was written)."""
    op = registration.get("initial_inventory_op")
    if not op:
        return False
    return await ledger.get(tenant_id, entry_id(str(op), 0)) is not None


class Inventories:
    def __init__(self, runtime: InventoryRuntime) -> None:
        self._runtime = runtime
        self._writer = ledger_writer(runtime)

    async def _book(self, tenant: str, lot_id: str, location_id: str) -> int:
        balance = await self._runtime.repo(Balances).get(tenant, balance_id(lot_id, location_id))
        return int(balance["qty_ug"]) if balance else 0

    async def count(self, access: RecordAccess, body: CountIn) -> Counted:
        """21 CFR 1304.11(e)(3): exact counts for Schedule I-II; 21 CFR 1301.76(b): a
        suspected theft or significant loss starts the DEA notice and Form 106 deadlines
        (on the site's day of the count, in business days without federal holidays)."""
        runtime, tenant = self._runtime, access.tenant_id
        place = await open_stock_place(
            runtime, access, body.lot_id, body.location_id, HANDLERS, resource="inventory/counts"
        )
        rules.require_exact_count(
            place.schedule, body.estimated, int(place.product["units_per_container"])
        )
        book = await self._book(tenant, body.lot_id, body.location_id)
        counted = mg_to_ug(body.counted_mg)
        entry = EntryDraft(
            place.registration["_id"],
            {
                "kind": "count",
                "count_kind": body.kind,
                **place.describe(),
                "book_ug": book,
                "counted_ug": counted,
                "difference_ug": counted - book,
                "estimated": body.estimated,
                "note": body.note,
                "counted_by": access.caller.user_id,
                "recorded_by": access.caller.user_id,
            },
        )
        op_id = str(uuid7())
        if counted != book:
            # The entry names its discrepancy (id derived from the operation), so a crash
            # before the discrepancy is recorded is repaired by the compliance sweep.
            entry.body["discrepancy_id"] = f"{op_id}-d"
            entry.body["suspected_theft_or_loss"] = body.suspected_theft_or_loss
        [saved] = await self._writer.post(Posting(op_id, tenant, [entry]))
        zone = await site_timezone(runtime.repo(SiteDirectory), tenant, place.site_id)
        discrepancy, started = await follow_up_count(
            runtime.repo(Discrepancies), runtime.repo(Deadlines), runtime.event, tenant, saved, zone
        )
        return Counted(saved, discrepancy, started)

    async def take(self, access: RecordAccess, registration_id: str, body: InventoryIn) -> Counted:
        """21 CFR 1304.11(b): an initial inventory when a registrant first handles
        controlled substances (zero if none on hand); 21 CFR 1304.11(c): a new one at
        least every two years; 21 CFR 1304.11(a),(e): date, opening/close of business,
        exact for I-II."""
        runtime, tenant = self._runtime, access.tenant_id
        registration = await access.open(
            runtime.repo(Registrations), registration_id, MANAGERS | HANDLERS, action="create",
            resource="inventory/registrations/{registration_id}/inventories", what="registration",
        )  # fmt: skip
        places = await self._places(tenant, registration_id, body)
        on = await site_today(runtime.repo(SiteDirectory), tenant, registration["site_id"])
        rows: list[dict[str, Any]] = []
        credits: list[Movement] = []
        for item, place in zip(body.items, places, strict=True):
            counted = mg_to_ug(item.counted_mg)
            book = await self._book(tenant, item.lot_id, item.location_id)
            rows.append(
                {
                    **place.describe(),
                    "counted_ug": counted,
                    "book_ug": book,
                    "estimated": item.estimated,
                }
            )
            if body.kind == "initial" and counted > 0:
                credits.append(movement(place, counted))
        op_id = str(uuid7())
        if body.kind == "initial":
            await self._claim_initial_inventory(tenant, registration_id, op_id, on)
        elif not await has_initial_inventory(runtime.repo(Ledger), tenant, registration):
            raise RuleViolation("take the initial inventory first", rule="21 CFR 1304.11(b)")
        entry = EntryDraft(
            registration_id,
            {
                "kind": "inventory",
                "inventory_kind": body.kind,
                "site_id": registration["site_id"],
                "dea_number": registration["dea_number"],
                "registrant_name": registration["registrant_name"],
                "taken_on": on.isoformat(),
                "taken_at": body.taken_at,
                "items": rows,
                "recorded_by": access.caller.user_id,
            },
        )
        [saved] = await self._writer.post(Posting(op_id, tenant, [entry], credits=credits))
        result = Counted(saved)
        if body.kind == "biennial":
            result.discrepancy = await self._biennial_follow_up(
                access, registration, saved, rows, on
            )
        return result

    async def _places(
        self, tenant: str, registration_id: str, body: InventoryIn
    ) -> list[StockPlace]:
        places: list[StockPlace] = []
        for item in body.items:
            place = await stock_place(self._runtime, tenant, item.lot_id, item.location_id)
            if place.registration["_id"] != registration_id:
                raise RuleViolation(f"location {item.location_id} belongs to another registration")
            rules.require_exact_count(
                place.schedule, item.estimated, int(place.product["units_per_container"])
            )
            places.append(place)
        return places

    async def _biennial_follow_up(
        self,
        access: RecordAccess,
        registration: Document,
        saved: Document,
        rows: list[dict[str, Any]],
        on: date,
    ) -> Document | None:
        """The biennial inventory is on the registration, its tracked deadline is met, and
        every difference from the book opens a discrepancy (the last one is returned)."""
        runtime, tenant = self._runtime, access.tenant_id
        registration_id = registration["_id"]
        await runtime.repo(Registrations).update(
            tenant, {"_id": registration_id}, {"$set": {"last_inventory_on": on.isoformat()}}
        )
        # The inventory is taken: its tracked deadline (if the alert raised one) is met.
        while await runtime.repo(Deadlines).update(
            tenant,
            {"registration_id": registration_id, "kind": "biennial_inventory", "status": "open"},
            {"$set": {"status": "done", "reference": saved["_id"], "done_at": datetime.now(UTC)}},
        ):
            pass
        opened: Document | None = None
        for row in rows:
            if row["counted_ug"] != row["book_ug"]:
                opened = await open_discrepancy(
                    runtime.repo(Discrepancies),
                    runtime.event,
                    tenant,
                    site_id=registration["site_id"],
                    registration_id=registration_id,
                    lot_id=row["lot_id"],
                    location_id=row["location_id"],
                    expected=row["book_ug"],
                    counted=row["counted_ug"],
                    suspected_theft_or_loss=False,
                    source_entry_id=saved["_id"],
                    opened_by=access.caller.user_id,
                )
        return opened

    async def _claim_initial_inventory(
        self, tenant_id: str, registration_id: str, op_id: str, on: date
    ) -> None:
        """One initial inventory per registration (21 CFR 1304.11(b)): a compare-and-set
        on the registration names the operation that takes it. A claim whose operation
        never got its entry (crashed before it, or rolled back) may be taken over once it
        is old."""
        registrations = self._runtime.repo(Registrations)
        now = datetime.now(UTC)
        claim = {
            "initial_inventory_op": op_id,
            "initial_inventory_claimed_at": now,
            "initial_inventory_on": on.isoformat(),
            "last_inventory_on": on.isoformat(),
        }
        if await registrations.update(
            tenant_id, {"_id": registration_id, "initial_inventory_op": None}, {"$set": claim}
        ):
            return
        current = await registrations.get(tenant_id, registration_id)
        previous = (current or {}).get("initial_inventory_op")
        ledger = self._runtime.repo(Ledger)
        if previous and await ledger.get(tenant_id, entry_id(previous, 0)) is None:
            posting = await self._runtime.repo(Postings).get(tenant_id, previous)
            abandoned = posting is None or posting["state"] == "rolled_back"
            claimed_at = (current or {}).get("initial_inventory_claimed_at")
            stale = claimed_at is not None and claimed_at < now - INITIAL_CLAIM_GRACE
            if (
                abandoned
                and stale
                and await registrations.update(
                    tenant_id,
                    {"_id": registration_id, "initial_inventory_op": previous},
                    {"$set": claim},
                )
            ):
                return
        raise Conflict("this registration already has its initial inventory")
