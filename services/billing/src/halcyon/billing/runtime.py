"""Billing's running service, typed: its settings and (no) parts, and what emits events."""

from __future__ import annotations

from typing import TypeAlias

from halcyon.billing.settings import BillingSettings
from halcyon.shared.events import EventSource
from halcyon.shared.service import ServiceRuntime, ServiceWiring

# Billing keeps no long-lived parts besides its repositories: ``runtime.parts`` is None.
BillingRuntime: TypeAlias = ServiceRuntime[BillingSettings, None]
BillingWiring: TypeAlias = ServiceWiring[BillingSettings, None]


# What a use case needs to emit: the runtime (this service as the source).
Events: TypeAlias = EventSource
