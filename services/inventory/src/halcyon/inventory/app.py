"""Inventory service wiring: the controlled-substance system of record."""

from __future__ import annotations

from halcyon.inventory import handlers, sweeps
from halcyon.inventory.api import catalog, compliance, ledger, reports
from halcyon.inventory.runtime import InventoryParts
from halcyon.inventory.settings import InventorySettings
from halcyon.inventory.store import ALL_REPOSITORIES
from halcyon.shared.contracts.inventory import (
    ComplianceDeadlineDue,
    DiscrepancyOpened,
    DoseDispensed,
    LedgerAnchored,
    StockLow,
)
from halcyon.shared.contracts.partner import RegistryDoseReported, RegistryDoseReportedV2
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring[InventorySettings, InventoryParts](
    title="Halcyon inventory",
    description="Controlled-substance registrations, stock, the hash-chained DEA ledger,"
    " counts, discrepancies and reports.",
    routers=[catalog.router, ledger.router, compliance.router, reports.router],
    repositories=ALL_REPOSITORIES,
    publishes=[
        DoseDispensed,
        StockLow,
        DiscrepancyOpened,
        ComplianceDeadlineDue,
        RegistryDoseReported,
        RegistryDoseReportedV2,
        LedgerAnchored,
    ],
    handlers=handlers.register,
    parts=lambda _runtime: InventoryParts(),
    on_start=[sweeps.recovery_loop, sweeps.compliance_loop, sweeps.anchor_loop],
)

app = create_service_app(InventorySettings(), wiring)
