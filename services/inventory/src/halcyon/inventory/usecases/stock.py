"""Loading what a ledger operation works on: the stock place, the staff it names, the
site's day. Every loader reads within the caller's agency."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from halcyon.inventory.domain.deadlines import site_date
from halcyon.inventory.domain.stock import StockPlace, require_staff_at_site
from halcyon.inventory.runtime import InventoryRuntime, RequestReads
from halcyon.inventory.store import (
    Locations,
    Lots,
    Products,
    Registrations,
    SiteDirectory,
    StaffDirectory,
)
from halcyon.inventory.usecases.posting import Movement
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document, TenantRepository


async def get_record(
    repo: TenantRepository, tenant_id: str, record_id: str, reads: RequestReads | None = None
) -> Document | None:
    """``repo.get``, joined with the same read of a concurrent request when ``reads`` is
    given (``SharedReads``: never older than a read of the caller's own)."""
    if reads is None:
        return await repo.get(tenant_id, record_id)
    key = (repo.collection_name, tenant_id, record_id)
    return await reads.read(key, lambda: repo.get(tenant_id, record_id))


async def must_exist(
    repo: TenantRepository,
    tenant_id: str,
    record_id: str,
    what: str,
    reads: RequestReads | None = None,
) -> Document:
    """A record a request body names: missing in the caller's agency is a 422, not a 404."""
    doc = await get_record(repo, tenant_id, record_id, reads)
    if doc is None:
        raise RuleViolation(f"no {what} {record_id} in your agency", field=what)
    return doc


async def stock_place(
    runtime: InventoryRuntime,
    tenant_id: str,
    lot_id: str,
    location_id: str,
    reads: RequestReads | None = None,
) -> StockPlace:
    lot = await must_exist(runtime.repo(Lots), tenant_id, lot_id, "lot", reads)
    location = await must_exist(runtime.repo(Locations), tenant_id, location_id, "location", reads)
    product = await must_exist(
        runtime.repo(Products), tenant_id, lot["product_id"], "product", reads
    )
    registration = await must_exist(
        runtime.repo(Registrations),
        tenant_id,
        location["registration_id"],
        "registration",
        reads,
    )
    return StockPlace(lot=lot, product=product, location=location, registration=registration)


async def open_stock_place(
    runtime: InventoryRuntime,
    access: RecordAccess,
    lot_id: str,
    location_id: str,
    roles: Iterable[str],
    *,
    resource: str,
    reads: RequestReads | None = None,
) -> StockPlace:
    """The stock place, if the caller holds one of ``roles`` at its site (a refusal is
    audited as ``denied``)."""
    place = await stock_place(runtime, access.tenant_id, lot_id, location_id, reads)
    await access.require(roles, place.site_id, action="create", resource=resource)
    return place


def movement(place: StockPlace, quantity_ug: int) -> Movement:
    return Movement(
        lot_id=place.lot["_id"],
        location_id=place.location["_id"],
        quantity_ug=quantity_ug,
        registration_id=place.registration["_id"],
        site_id=place.site_id,
        product_id=place.product["_id"],
        substance=place.product["substance"],
        low_stock_threshold_ug=int(place.product.get("low_stock_threshold_ug") or 0),
    )


async def staff_at_site(
    staff: StaffDirectory,
    tenant_id: str,
    staff_id: str,
    site_id: str,
    as_what: str,
    roles: set[str] | None = None,
) -> Document:
    """The staff member named in a record, active at the site (``require_staff_at_site``)."""
    member = await staff.get(tenant_id, staff_id)
    return require_staff_at_site(member, staff_id, site_id, as_what, roles)


async def staff_members(
    staff: StaffDirectory,
    tenant_id: str,
    staff_ids: Iterable[str],
    reads: RequestReads | None = None,
) -> dict[str, Document]:
    """The staff members a record names, in one read (missing ones are absent)."""
    wanted = sorted(set(staff_ids))

    async def fetch() -> list[Document]:
        return await staff.find(tenant_id, {"_id": {"$in": wanted}})

    key = (staff.collection_name, tenant_id, *wanted)
    found = await (fetch() if reads is None else reads.read(key, fetch))
    return {str(member["_id"]): member for member in found}


async def site_timezone(sites: SiteDirectory, tenant_id: str, site_id: str) -> str | None:
    """The site's IANA zone as identity announced it (None: unknown, dates fall back to UTC)."""
    site = await sites.get(tenant_id, site_id)
    zone = site.get("timezone") if site else None
    return str(zone) if zone else None


async def site_today(sites: SiteDirectory, tenant_id: str, site_id: str) -> date:
    """Today at the site: the day people there would name."""
    return site_date(datetime.now(UTC), await site_timezone(sites, tenant_id, site_id))
