"""Billing service wiring. Its capabilities arrive with their issues; today it serves health."""

from __future__ import annotations

from halcyon.billing.settings import BillingSettings
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(title="Halcyon billing")

app = create_service_app(BillingSettings(), wiring)
