"""Identity service wiring. Its capabilities arrive with their issues; today it serves health."""

from __future__ import annotations

from halcyon.identity.settings import IdentitySettings
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(title="Halcyon identity")

app = create_service_app(IdentitySettings(), wiring)
