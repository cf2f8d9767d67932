"""Events the billing service publishes."""

from __future__ import annotations

from datetime import date

from halcyon.shared.contracts import EventContract


class ChargeCreated(EventContract):
    event_type = "halcyon.billing.charge.created.v1"
    topic = "billing.charge.v1"
    subject_field = "charge_id"

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


class AuthorizationChanged(EventContract):
    """Prior-authorization units for a coverage (scheduling warns before exceeding them)."""

    event_type = "halcyon.billing.authorization.changed.v1"
    topic = "billing.authorization.v1"
    subject_field = "authorization_id"

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

    claim_id: str
    client_id: str
    payer_id: str
    status: str
    total_cents: int
    paid_cents: int = 0
    denial_codes: list[str] = []


class PaymentPosted(EventContract):
    event_type = "halcyon.billing.payment.posted.v1"
    topic = "billing.payment.v1"
    subject_field = "payment_id"

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

    charge_id: str
    encounter_id: str
    client_id: str
    cpt: str
    units: int
    amount_cents: int
