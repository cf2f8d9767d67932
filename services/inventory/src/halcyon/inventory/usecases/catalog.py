"""Registrations: a site's DEA registration recorded once identity vouches for it."""

from __future__ import annotations

from datetime import UTC, datetime

from halcyon.inventory.domain.models import RegistrationIn
from halcyon.inventory.domain.registrations import check_registration
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import Registrations, SiteDirectory
from halcyon.shared.access import RecordAccess
from halcyon.shared.mongo import Document
from uuid6 import uuid7


async def record_registration(
    runtime: InventoryRuntime, access: RecordAccess, body: RegistrationIn
) -> Document:
    """21 CFR 1301.13 (what a registration covers); 21 CFR 1301.18 (Schedule I research
    registrations are tied to an approved protocol). Its ledger starts with an initial
    inventory. The caller's role at the site is checked before."""
    site = await runtime.repo(SiteDirectory).get(access.tenant_id, body.site_id)
    now = datetime.now(UTC)
    check_registration(body, site, now.date())
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "created_at": now,
        "created_by": access.caller.user_id,
        "initial_inventory_op": None,
        "initial_inventory_on": None,
        "last_inventory_on": None,
    }
    return await runtime.repo(Registrations).insert(access.tenant_id, doc)
