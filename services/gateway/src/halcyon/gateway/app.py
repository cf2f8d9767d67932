"""Gateway service wiring. Its capabilities arrive with their issues; today it serves health."""

from __future__ import annotations

from halcyon.gateway.settings import GatewaySettings
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(title="Halcyon gateway")

app = create_service_app(GatewaySettings(), wiring)
