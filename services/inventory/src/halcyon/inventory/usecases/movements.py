"""Stock moving in, out and between sites: each movement is one ledger posting."""

from __future__ import annotations

from typing import Any

from halcyon.inventory.domain import rules
from halcyon.inventory.domain.models import (
    AdjustmentIn,
    DestructionIn,
    ReceiptIn,
    ReturnIn,
    TransferIn,
    WasteIn,
)
from halcyon.inventory.domain.quantities import mg_to_ug
from halcyon.inventory.domain.roles import HANDLERS, MANAGERS
from halcyon.inventory.domain.stock import StockPlace, dose_ug
from halcyon.inventory.domain.substances import registration_covers
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import Ledger, SiteDirectory, StaffDirectory
from halcyon.inventory.usecases.inventories import has_initial_inventory
from halcyon.inventory.usecases.posting import EntryDraft, Posting, entry_id, ledger_writer
from halcyon.inventory.usecases.stock import (
    movement,
    open_stock_place,
    site_today,
    staff_at_site,
    stock_place,
)
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7


class StockMovements:
    def __init__(self, runtime: InventoryRuntime) -> None:
        self._runtime = runtime
        self._writer = ledger_writer(runtime)

    async def _post_one(
        self, tenant: str, place: StockPlace, body: dict[str, Any], *, debit: bool
    ) -> Document:
        entry = EntryDraft(place.registration["_id"], body)
        moved = [movement(place, int(body["quantity_ug"]))]
        posting = Posting(
            str(uuid7()),
            tenant,
            [entry],
            debits=moved if debit else [],
            credits=[] if debit else moved,
        )
        [saved] = await self._writer.post(posting)
        return saved

    async def _witnesses(self, tenant: str, place: StockPlace, witness_ids: list[str]) -> None:
        for witness in witness_ids:
            await staff_at_site(
                self._runtime.repo(StaffDirectory), tenant, witness, place.site_id, "witness_ids"
            )

    async def receive(self, access: RecordAccess, body: ReceiptIn) -> Document:
        """21 CFR 1304.22(a)(2)(iv): number of units received, date of receipt, supplier
        name, address and DEA number; 21 CFR 1305.03: Schedule I-II only against a Form
        222 / CSOS order; 21 CFR 1304.11(b): a new registration takes its initial
        inventory first."""
        place = await open_stock_place(
            self._runtime,
            access,
            body.lot_id,
            body.location_id,
            HANDLERS | MANAGERS,
            resource="inventory/receipts",
        )
        registration_covers(
            place.registration,
            place.schedule,
            body.received_on,
            protocol_id=place.registration.get("protocol_id"),
        )
        rules.require_order_form(place.schedule, body.order_form_number)
        rules.require_secure_storage(place.schedule, place.location, place.registration)
        ledger = self._runtime.repo(Ledger)
        if not await has_initial_inventory(ledger, access.tenant_id, place.registration):
            raise RuleViolation(
                "take the registration's initial inventory before receiving stock",
                rule="21 CFR 1304.11(b)",
            )
        quantity = mg_to_ug(body.quantity_mg)
        entry = {
            "kind": "receipt",
            **place.describe(),
            "quantity_ug": quantity,
            "units": place.units(quantity),
            "received_on": body.received_on.isoformat(),
            "order_form_number": body.order_form_number,
            "supplier_name": place.lot["supplier_name"],
            "supplier_dea_number": place.lot["supplier_dea_number"],
            "recorded_by": access.caller.user_id,
        }
        return await self._post_one(access.tenant_id, place, entry, debit=False)

    async def waste(self, access: RecordAccess, body: WasteIn) -> Document:
        """21 CFR 1304.21(a) and 1317.95(d): wastage is recorded with quantity and method
        and witnessed by two authorised employees other than the person wasting."""
        tenant, user = access.tenant_id, access.caller.user_id
        place = await open_stock_place(
            self._runtime, access, body.lot_id, body.location_id, HANDLERS,
            resource="inventory/wastes",
        )  # fmt: skip
        quantity = dose_ug(place.product, body.quantity_mg, body.quantity_ml)
        rules.require_two_witnesses(user, body.witness_ids, "waste")
        if body.dispense_entry_id is not None:
            # Waste of a partly used dose names the dispense it came from, same lot.
            source = await self._runtime.repo(Ledger).get(tenant, body.dispense_entry_id)
            if source is None or source["kind"] != "dispense" or source["lot_id"] != body.lot_id:
                raise RuleViolation(
                    f"{body.dispense_entry_id} is not a dispense of lot {body.lot_id}",
                    field="dispense_entry_id",
                )
        await self._witnesses(tenant, place, body.witness_ids)
        entry = {
            "kind": "waste",
            **place.describe(),
            "quantity_ug": quantity,
            "method": body.method,
            "reason": body.reason,
            "witness_ids": body.witness_ids,
            "dispense_entry_id": body.dispense_entry_id,
            "wasted_by": user,
            "recorded_by": user,
        }
        return await self._post_one(tenant, place, entry, debit=True)

    async def destroy(self, access: RecordAccess, body: DestructionIn) -> Document:
        """21 CFR 1317.95 / 1304.21(e): destruction is recorded on DEA Form 41 — the
        substance, form, strength, quantity, method, date and place, and two witnesses."""
        tenant, user = access.tenant_id, access.caller.user_id
        place = await open_stock_place(
            self._runtime, access, body.lot_id, body.location_id, MANAGERS | HANDLERS,
            resource="inventory/destructions",
        )  # fmt: skip
        rules.require_two_witnesses(user, body.witness_ids, "destruction")
        await self._witnesses(tenant, place, body.witness_ids)
        entry = {
            "kind": "destruction",
            **place.describe(),
            "quantity_ug": mg_to_ug(body.quantity_mg),
            "method": body.method,
            "reason": body.reason,
            "destroyed_on": body.destroyed_on.isoformat(),
            "location_of_destruction": body.location_of_destruction,
            "witness_ids": body.witness_ids,
            "form_41_reference": body.form_41_reference,
            "destroyed_by": user,
            "recorded_by": user,
        }
        return await self._post_one(tenant, place, entry, debit=True)

    async def return_to_supplier(self, access: RecordAccess, body: ReturnIn) -> Document:
        """21 CFR 1304.22(a)(2)(vii)-(ix) and 1305.03: distributions back to a supplier
        record quantity, date and the recipient's DEA number; Schedule I-II need a Form
        222/CSOS."""
        place = await open_stock_place(
            self._runtime, access, body.lot_id, body.location_id, HANDLERS | MANAGERS,
            resource="inventory/returns",
        )  # fmt: skip
        rules.require_order_form(place.schedule, body.order_form_number)
        entry = {
            "kind": "return",
            **place.describe(),
            "quantity_ug": mg_to_ug(body.quantity_mg),
            "returned_to": body.returned_to,
            "returned_to_dea_number": body.returned_to_dea_number,
            "order_form_number": body.order_form_number,
            "recorded_by": access.caller.user_id,
        }
        return await self._post_one(access.tenant_id, place, entry, debit=True)

    async def transfer(self, access: RecordAccess, body: TransferIn) -> list[Document]:
        """21 CFR 1304.22(a)(2)(iv),(vii): the sender records the distribution and the
        receiver the receipt; 21 CFR 1305.03: Schedule I-II move between registrants on a
        Form 222/CSOS."""
        tenant = access.tenant_id
        source = await open_stock_place(
            self._runtime, access, body.lot_id, body.from_location_id, HANDLERS | MANAGERS,
            resource="inventory/transfers",
        )  # fmt: skip
        target = await stock_place(self._runtime, tenant, body.lot_id, body.to_location_id)
        await self._check_transfer(tenant, body, source, target)
        op_id = str(uuid7())
        out_id, in_id = entry_id(op_id, 0), entry_id(op_id, 1)
        quantity = mg_to_ug(body.quantity_mg)
        common: dict[str, Any] = {
            "quantity_ug": quantity,
            "order_form_number": body.order_form_number,
            "recorded_by": access.caller.user_id,
        }
        sent = {
            "kind": "transfer_out",
            **source.describe(),
            **common,
            "to_site_id": target.site_id,
            "to_dea_number": target.registration["dea_number"],
            "to_location_id": target.location["_id"],
            "counterpart_entry_id": in_id,
        }
        received = {
            "kind": "transfer_in",
            **target.describe(),
            **common,
            "from_site_id": source.site_id,
            "from_dea_number": source.registration["dea_number"],
            "from_location_id": source.location["_id"],
            "counterpart_entry_id": out_id,
        }
        posting = Posting(
            op_id,
            tenant,
            [
                EntryDraft(source.registration["_id"], sent),
                EntryDraft(target.registration["_id"], received),
            ],
            debits=[movement(source, quantity)],
            credits=[movement(target, quantity)],
        )
        return await self._writer.post(posting)

    async def _check_transfer(
        self, tenant: str, body: TransferIn, source: StockPlace, target: StockPlace
    ) -> None:
        if source.registration["_id"] == target.registration["_id"]:
            raise RuleViolation("a transfer goes to another registration (another site)")
        on = await site_today(self._runtime.repo(SiteDirectory), tenant, source.site_id)
        for place in (source, target):
            registration_covers(
                place.registration,
                place.schedule,
                on,
                protocol_id=place.registration.get("protocol_id"),
            )
        rules.require_order_form(source.schedule, body.order_form_number)
        rules.require_secure_storage(target.schedule, target.location, target.registration)
        if not await has_initial_inventory(self._runtime.repo(Ledger), tenant, target.registration):
            raise RuleViolation(
                "the receiving registration takes its initial inventory before it receives stock",
                rule="21 CFR 1304.11(b)",
            )

    async def adjust(self, access: RecordAccess, body: AdjustmentIn) -> Document:
        """21 CFR 1304.21(a): the book changes only through an accountable record."""
        place = await stock_place(self._runtime, access.tenant_id, body.lot_id, body.location_id)
        rules.require_adjusting_role(access.caller.roles_at(place.site_id))
        delta = mg_to_ug(body.delta_mg)
        entry = {
            "kind": "adjustment",
            **place.describe(),
            "quantity_ug": abs(delta),
            "delta_ug": delta,
            "reason": body.reason,
            "discrepancy_id": body.discrepancy_id,
            "recorded_by": access.caller.user_id,
        }
        return await self._post_one(access.tenant_id, place, entry, debit=delta < 0)
