"""Events the controlled-substance inventory publishes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from halcyon.shared.contracts import EventContract


class DoseDispensed(EventContract):
    """A controlled substance was dispensed/administered for a dosing session."""

    event_type = "halcyon.inventory.dose.dispensed.v1"
    topic = "inventory.dispense.v1"
    subject_field = "ledger_entry_id"
    example: ClassVar[dict[str, Any]] = {
        "ledger_entry_id": "019caf49-1018-7fe1-810b-4fe83303852f",
        "registration_id": "019002e0-b800-729c-830e-0604515ced98",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "appointment_id": "019c7c8a-91b0-7fd3-b875-ad2991f4970f",
        "substance": "mdma",
        "product_id": "0191b813-efc0-7a87-a157-cb4f27fb949c",
        "lot_id": "019afeda-8c58-7b7b-8d6e-4f8c864714bf",
        "quantity_mg": 120.0,
        "quantity_ug": 120000,
        "supplemental": False,
        "administered_by": "01906eaf-c378-74b8-b17d-6e49deb7b9dc",
        "witness_id": "019147c0-cf40-7166-b437-189e15485eba",
        "prescriber_id": "01906eaf-c378-74b8-b17d-6e49deb7b9dc",
        "administered_at": "2026-03-02T16:02:07Z",
    }

    ledger_entry_id: str
    registration_id: str
    site_id: str
    client_id: str
    appointment_id: str | None = None
    substance: str
    product_id: str
    lot_id: str
    quantity_mg: float  # the same figure as quantity_ug, for older consumers
    supplemental: bool = False
    administered_by: str
    witness_id: str
    prescriber_id: str
    administered_at: datetime
    # Exact quantity in micrograms (ADR 0502); absent only in events from before it.
    quantity_ug: int | None = None


class StockLow(EventContract):
    """A lot's balance fell below the site's reorder threshold (quantities in mg)."""

    event_type = "halcyon.inventory.stock.low.v1"
    topic = "inventory.alert.v1"
    subject_field = "lot_id"
    example: ClassVar[dict[str, Any]] = {
        "lot_id": "019afeda-8c58-7b7b-8d6e-4f8c864714bf",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "product_id": "0191b813-efc0-7a87-a157-cb4f27fb949c",
        "substance": "mdma",
        "balance": 540.0,
        "threshold": 600.0,
        "balance_ug": 540000,
        "threshold_ug": 600000,
    }

    lot_id: str
    site_id: str
    product_id: str
    substance: str
    balance: float
    threshold: float
    # Exact figures in micrograms (ADR 0502); balance/threshold are the same in mg.
    balance_ug: int | None = None
    threshold_ug: int | None = None


class DiscrepancyOpened(EventContract):
    """A count differed from the book, or a theft/loss is suspected."""

    event_type = "halcyon.inventory.discrepancy.opened.v1"
    topic = "inventory.alert.v1"
    subject_field = "discrepancy_id"
    example: ClassVar[dict[str, Any]] = {
        "discrepancy_id": "019caf99-9178-7100-9436-b4002dd4f056",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "registration_id": "019002e0-b800-729c-830e-0604515ced98",
        "lot_id": "019afeda-8c58-7b7b-8d6e-4f8c864714bf",
        "expected": 540.0,
        "counted": 480.0,
        "suspected_theft_or_loss": True,
        "expected_ug": 540000,
        "counted_ug": 480000,
    }

    discrepancy_id: str
    site_id: str
    registration_id: str
    lot_id: str | None = None
    expected: float
    counted: float
    suspected_theft_or_loss: bool = False
    # Exact figures in micrograms (ADR 0502); expected/counted are the same in mg.
    expected_ug: int | None = None
    counted_ug: int | None = None


class ComplianceDeadlineDue(EventContract):
    """A regulatory deadline is near or passed (DEA notice in 1 business day, Form 106 in 45
    days, biennial inventory, registration expiry)."""

    event_type = "halcyon.inventory.deadline.due.v1"
    topic = "inventory.alert.v1"
    subject_field = "deadline_id"
    example: ClassVar[dict[str, Any]] = {
        "deadline_id": "019caf99-9560-7dfc-aeb3-9828e31c4cf8",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "kind": "dea_theft_loss_notice",
        "due_on": "2026-03-03",
        "overdue": False,
        "discrepancy_id": "019caf99-9178-7100-9436-b4002dd4f056",
    }

    deadline_id: str
    site_id: str
    kind: str  # dea_theft_loss_notice | dea_form_106 | biennial_inventory | registration_expiry
    due_on: date
    overdue: bool = False
    discrepancy_id: str | None = None


class LedgerAnchored(EventContract):
    """A signed checkpoint of a ledger chain's head (ADR 0503), for identity's append-only
    audit log: kept outside inventory's database, so deleting the newest ledger entries
    (which leaves a shorter chain that verifies in itself) is still detected. The
    signature is Ed25519 over the signed fields plus the tenant id (the envelope's)."""

    event_type = "halcyon.inventory.ledger.anchored.v1"
    topic = "inventory.anchor.v1"
    subject_field = "registration_id"
    example: ClassVar[dict[str, Any]] = {
        "anchor_id": "019002e0-b800-729c-830e-0604515ced98:412",
        "registration_id": "019002e0-b800-729c-830e-0604515ced98",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "dea_number": "RD1234567",
        "seq": 412,
        "entry_id": "019caf49-1018-7fe1-810b-4fe83303852f-0",
        "head_hash": "5f0c6a4be0b8f0d2d1c3a9e7b6f5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7",
        "anchored_at": "2026-03-02T16:05:00.000+00:00",
        "key_id": "3e1f5b7a9c2d4e6f",
        "format": "halcyon-ledger-checkpoint/1",
        "signature": "q8v3...base64...==",
        "public_key": "MCowBQYDK2VwAyEA...base64...=",
    }

    anchor_id: str
    registration_id: str
    site_id: str
    dea_number: str
    seq: int
    entry_id: str
    head_hash: str
    anchored_at: str  # exactly as signed
    key_id: str
    format: str
    signature: str
    public_key: str
