"""Events the billing service publishes."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from halcyon.shared.contracts import EventContract


class ChargeCreated(EventContract):
    """A charge was captured from a signed encounter: one CPT code with its units and
    price. A corrected encounter yields a new charge naming the one it corrects.
    A dispensed dose of a drug the agency bought (buy and bill) is also a charge: the
    HCPCS drug code (S0013, esketamine per mg) in ``cpt``, the dose's inventory ledger
    entry in ``ledger_entry_id`` and the product's NDC in ``ndc`` when known."""

    event_type = "halcyon.billing.charge.created.v1"
    topic = "billing.charge.v1"
    subject_field = "charge_id"
    example: ClassVar[dict[str, Any]] = {
        "charge_id": "019cafa7-3990-7974-8fba-b3282166738a",
        "encounter_id": "019caf11-b820-7f70-b769-ae02a76af966",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "site_id": "019002a9-c980-7fba-841b-02c41ed0fd8a",
        "cpt": "90837",
        "modifiers": [],
        "units": 1,
        "amount_cents": 18500,
        "service_date": "2026-03-02",
        "corrects_charge_id": None,
    }

    charge_id: str
    encounter_id: str
    client_id: str
    site_id: str
    cpt: str
    modifiers: list[str] = []
    units: int
    amount_cents: int
    service_date: date
    corrects_charge_id: str | None = None
    # Drug-supply charges only: the dispense it bills (one charge per ledger entry).
    ledger_entry_id: str | None = None
    ndc: str | None = None  # 11 digits, 5-4-2, no hyphens


class AuthorizationChanged(EventContract):
    """Prior-authorization units for a coverage (scheduling warns before exceeding them)."""

    event_type = "halcyon.billing.authorization.changed.v1"
    topic = "billing.authorization.v1"
    subject_field = "authorization_id"
    example: ClassVar[dict[str, Any]] = {
        "authorization_id": "019c0675-a820-7cbb-aebe-c6051b780ad2",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "cpt": "90837",
        "units_authorized": 12,
        "units_used": 5,
        "starts_on": "2026-02-01",
        "ends_on": "2026-07-31",
    }

    authorization_id: str
    client_id: str
    cpt: str
    units_authorized: int
    units_used: int
    starts_on: date
    ends_on: date


class ClaimStatusChanged(EventContract):
    """A claim was submitted, accepted, rejected, paid, denied or appealed."""

    event_type = "halcyon.billing.claim.status_changed.v1"
    topic = "billing.claim.v1"
    subject_field = "claim_id"
    example: ClassVar[dict[str, Any]] = {
        "claim_id": "019c6ffa-4a80-7dd1-bc31-2cf7d8161303",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "payer_id": "018f3406-9e00-78d6-bcf7-d4880cd5224b",
        "status": "paid",
        "total_cents": 42500,
        "paid_cents": 31875,
        "denial_codes": ["CO-45"],
    }

    claim_id: str
    client_id: str
    payer_id: str
    status: str
    total_cents: int
    paid_cents: int = 0
    denial_codes: list[str] = []


class PaymentPosted(EventContract):
    """Money was received: an insurer's remittance (ERA 835), a client payment or an
    adjustment, against a claim or a client's account."""

    event_type = "halcyon.billing.payment.posted.v1"
    topic = "billing.payment.v1"
    subject_field = "payment_id"
    example: ClassVar[dict[str, Any]] = {
        "payment_id": "019cafa2-fba0-7040-bd59-25d40e11c67b",
        "claim_id": "019c6ffa-4a80-7dd1-bc31-2cf7d8161303",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "amount_cents": 31875,
        "source": "era_835",
    }

    payment_id: str
    claim_id: str | None = None
    client_id: str | None = None
    amount_cents: int
    source: str  # era_835 | client | adjustment


class ChargePriced(EventContract):
    """A held charge (no fee schedule entry yet when captured) got its price and is billable."""

    event_type = "halcyon.billing.charge.priced.v1"
    topic = "billing.charge.v1"
    subject_field = "charge_id"
    example: ClassVar[dict[str, Any]] = {
        "charge_id": "019cafa7-3d78-71bf-9752-2a4931060aeb",
        "encounter_id": "019c68e1-1f30-79f3-ac58-31de377866cf",
        "client_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "cpt": "0820T",
        "units": 8,
        "amount_cents": 120000,
    }

    charge_id: str
    encounter_id: str
    client_id: str
    cpt: str
    units: int
    amount_cents: int
