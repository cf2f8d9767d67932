"""Inventory service wiring. Its capabilities arrive with their issues; today it serves health."""

from __future__ import annotations

from halcyon.inventory.settings import InventorySettings
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(title="Halcyon inventory")

app = create_service_app(InventorySettings(), wiring)
