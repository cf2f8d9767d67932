"""Scheduling repositories."""

from __future__ import annotations

from halcyon.shared.mongo import TenantRepository
from pymongo import ASCENDING, IndexModel


class ClientDirectory(TenantRepository):
    """Read model of clients, fed by clinical's ``ClientRegistered`` events."""

    collection_name = "clients"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("home_site_id", ASCENDING)]),)
