"""Billing service wiring."""

from __future__ import annotations

from halcyon.billing import api, handlers, store
from halcyon.billing.runtime import BillingWiring
from halcyon.billing.settings import BillingSettings
from halcyon.shared.contracts.billing import (
    AuthorizationChanged,
    ChargeCreated,
    ChargePriced,
    ClaimStatusChanged,
    PaymentPosted,
)
from halcyon.shared.service import create_service_app

wiring: BillingWiring = BillingWiring(
    title="Halcyon billing",
    description="Payers, coverages, fee schedules, charges, 837P claims, 835 remittance, ledgers.",
    routers=api.routers,
    repositories=store.ALL,
    publishes=[
        ChargeCreated,
        ChargePriced,
        ClaimStatusChanged,
        PaymentPosted,
        AuthorizationChanged,
    ],
    handlers=handlers.register,
)

app = create_service_app(BillingSettings(), wiring)
