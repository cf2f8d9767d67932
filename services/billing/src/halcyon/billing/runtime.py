"""Billing's running service, typed: its settings and (no) parts, and what emits events."""

from __future__ import annotations

from typing import Protocol, TypeAlias

from halcyon.billing.settings import BillingSettings
from halcyon.shared.contracts import EventContract
from halcyon.shared.mongo import OutboxEvent
from halcyon.shared.service import ServiceRuntime, ServiceWiring

# Billing keeps no long-lived parts besides its repositories: ``runtime.parts`` is None.
BillingRuntime: TypeAlias = ServiceRuntime[BillingSettings, None]
BillingWiring: TypeAlias = ServiceWiring[BillingSettings, None]


class Events(Protocol):
    """What a use case needs to emit: the runtime (``/halcyon/billing`` as the source)."""

    def event(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> OutboxEvent: ...
