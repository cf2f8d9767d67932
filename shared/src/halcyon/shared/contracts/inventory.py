"""Events the controlled-substance inventory publishes."""

from __future__ import annotations

from datetime import date, datetime

from halcyon.shared.contracts import EventContract


class DoseDispensed(EventContract):
    """A controlled substance was dispensed/administered for a dosing session."""

    event_type = "halcyon.inventory.dose.dispensed.v1"
    topic = "inventory.dispense.v1"
    subject_field = "ledger_entry_id"

    ledger_entry_id: str
    registration_id: str
    site_id: str
    client_id: str
    appointment_id: str | None = None
    substance: str
    product_id: str
    lot_id: str
    quantity_mg: float
    supplemental: bool = False
    administered_by: str
    witness_id: str
    prescriber_id: str
    administered_at: datetime


class StockLow(EventContract):
    event_type = "halcyon.inventory.stock.low.v1"
    topic = "inventory.alert.v1"
    subject_field = "lot_id"

    lot_id: str
    site_id: str
    product_id: str
    substance: str
    balance: float
    threshold: float


class DiscrepancyOpened(EventContract):
    """A count differed from the book, or a theft/loss is suspected."""

    event_type = "halcyon.inventory.discrepancy.opened.v1"
    topic = "inventory.alert.v1"
    subject_field = "discrepancy_id"

    discrepancy_id: str
    site_id: str
    registration_id: str
    lot_id: str | None = None
    expected: float
    counted: float
    suspected_theft_or_loss: bool = False


class ComplianceDeadlineDue(EventContract):
    """A regulatory deadline is near or passed (DEA notice in 1 business day, Form 106 in 45
    days, biennial inventory, registration expiry)."""

    event_type = "halcyon.inventory.deadline.due.v1"
    topic = "inventory.alert.v1"
    subject_field = "deadline_id"

    deadline_id: str
    site_id: str
    kind: str  # dea_theft_loss_notice | dea_form_106 | biennial_inventory | registration_expiry
    due_on: date
    overdue: bool = False
    discrepancy_id: str | None = None
