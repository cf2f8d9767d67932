"""Clinical service wiring."""

from __future__ import annotations

from halcyon.clinical import api
from halcyon.clinical.settings import ClinicalSettings
from halcyon.clinical.store import ClientRepository
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(
    title="Halcyon clinical",
    description="Clients and their chart.",
    routers=[api.router],
    repositories=[ClientRepository],
    publishes=[ClientRegistered],
)

app = create_service_app(ClinicalSettings(), wiring)
