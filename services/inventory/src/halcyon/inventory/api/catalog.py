"""Registrations, products, storage locations and lots."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, status
from halcyon.inventory.api.common import MANAGERS, READERS, Record, RefusalsAudited, out
from halcyon.inventory.api.deps import (
    BalanceRepo,
    LocationRepo,
    LotRepo,
    Page,
    ProductRepo,
    RegistrationRepo,
    Runtime,
)
from halcyon.inventory.domain.deadlines import biennial_due
from halcyon.inventory.domain.models import (
    LocationIn,
    LockStateIn,
    LotIn,
    ProductIn,
    RegistrationIn,
)
from halcyon.inventory.domain.quantities import mg_to_ug
from halcyon.inventory.usecases.catalog import record_registration
from halcyon.inventory.usecases.stock import must_exist
from halcyon.shared.access import Access
from halcyon.shared.errors import Conflict
from halcyon.shared.http.pagination import PageOut
from uuid6 import uuid7

router = APIRouter(tags=["catalog"], route_class=RefusalsAudited)


@router.post(
    "/registrations",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Record a site's DEA registration (its ledger starts with an initial inventory)",
)
async def create_registration(body: RegistrationIn, access: Access, runtime: Runtime) -> Record:
    """21 CFR 1301.13 (what a registration covers); 21 CFR 1301.18 (Schedule I research
    registrations are tied to an approved protocol)."""
    site_id = body.site_id
    await access.require(MANAGERS, site_id, action="create", resource="inventory/registrations")
    return out(await record_registration(runtime, access, body))


@router.get("/registrations/{registration_id}", response_model=Record, summary="One registration")
async def read_registration(
    registration_id: str, access: Access, registrations: RegistrationRepo
) -> Record:
    doc = await access.open(
        registrations, registration_id, READERS, action="read",
        resource="inventory/registrations/{registration_id}", what="registration",
    )  # fmt: skip
    last = doc.get("last_inventory_on")
    due = biennial_due(date.fromisoformat(last)).isoformat() if last else None
    return out({**doc, "biennial_inventory_due_on": due})


@router.get(
    "/registrations", response_model=PageOut[Record], summary="Registrations of your agency"
)
async def list_registrations(
    access: Access, registrations: RegistrationRepo, page: Page
) -> PageOut[Record]:
    await access.require(READERS, None, action="read", resource="inventory/registrations")
    sites = access.caller.sites()
    query = {} if "*" in sites else {"site_id": {"$in": sorted(sites)}}
    result = await registrations.page(access.tenant_id, query, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


@router.get(
    "/registrations/{registration_id}/balances",
    response_model=PageOut[Record],
    summary="Current balance of every lot at every location of a registration",
)
async def list_balances(
    registration_id: str,
    access: Access,
    registrations: RegistrationRepo,
    balances: BalanceRepo,
    page: Page,
) -> PageOut[Record]:
    await access.open(
        registrations, registration_id, READERS, action="read",
        resource="inventory/registrations/{registration_id}/balances", what="registration",
    )  # fmt: skip
    result = await balances.page(
        access.tenant_id,
        {"registration_id": registration_id},
        limit=page.limit,
        cursor=page.cursor,
    )
    return PageOut(
        items=[out({k: v for k, v in d.items() if k != "credited"}) for d in result.items],
        next_cursor=result.next_cursor,
    )


@router.post(
    "/products", status_code=status.HTTP_201_CREATED, response_model=Record, summary="A product"
)
async def create_product(body: ProductIn, access: Access, products: ProductRepo) -> Record:
    await access.require(MANAGERS, None, action="create", resource="inventory/products")
    measures = {"strength_mg", "low_stock_threshold_mg", "concentration_mg_per_ml"}
    concentration = body.concentration_mg_per_ml
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json", exclude=measures),
        # Exact micrograms (ADR 0502); responses show them as decimal mg strings.
        "strength_ug": mg_to_ug(body.strength_mg),
        "low_stock_threshold_ug": mg_to_ug(body.low_stock_threshold_mg),
        "concentration_ug_per_ml": mg_to_ug(concentration) if concentration else None,
        "created_at": datetime.now(UTC),
        "created_by": access.caller.user_id,
    }
    return out(await products.insert(access.tenant_id, doc))


@router.get("/products", response_model=PageOut[Record], summary="Products")
async def list_products(access: Access, products: ProductRepo, page: Page) -> PageOut[Record]:
    await access.require(READERS, None, action="read", resource="inventory/products")
    result = await products.page(access.tenant_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/locations",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="A registered, locked storage location (21 CFR 1301.75(b))",
)
async def create_location(
    body: LocationIn,
    access: Access,
    locations: LocationRepo,
    registrations: RegistrationRepo,
) -> Record:
    registration = await must_exist(
        registrations, access.tenant_id, body.registration_id, "registration"
    )
    await access.require(
        MANAGERS, registration["site_id"], action="create", resource="inventory/locations"
    )
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "site_id": registration["site_id"],
        "created_at": datetime.now(UTC),
    }
    return out(await locations.insert(access.tenant_id, doc))


@router.post(
    "/locations/{location_id}/lock-state",
    response_model=Record,
    summary="Record that a storage location was found unlocked, or secured again",
)
async def set_lock_state(
    location_id: str, body: LockStateIn, access: Access, locations: LocationRepo
) -> Record:
    """21 CFR 1301.75(b): while a location is recorded as unlocked, no Schedule I-II
    stock is received or transferred into it."""
    await access.open(
        locations, location_id, MANAGERS, action="create",
        resource="inventory/locations/{location_id}/lock-state", what="location",
    )  # fmt: skip
    changed = await locations.update(
        access.tenant_id,
        {"_id": location_id},
        {
            "$set": {
                "locked": body.locked,
                "lock_note": body.note,
                "lock_changed_at": datetime.now(UTC),
                "lock_changed_by": access.caller.user_id,
            }
        },
    )
    if changed is None:
        raise Conflict("the location changed while its lock state was recorded; retry")
    return out(changed)


@router.post("/lots", status_code=status.HTTP_201_CREATED, response_model=Record, summary="A lot")
async def create_lot(body: LotIn, access: Access, lots: LotRepo, products: ProductRepo) -> Record:
    roles = MANAGERS | {"nurse", "prescriber"}
    await access.require(roles, None, action="create", resource="inventory/lots")
    await must_exist(products, access.tenant_id, body.product_id, "product")
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "created_at": datetime.now(UTC),
        "created_by": access.caller.user_id,
    }
    return out(await lots.insert(access.tenant_id, doc))


@router.get("/lots/{lot_id}", response_model=Record, summary="One lot")
async def read_lot(lot_id: str, access: Access, lots: LotRepo) -> Record:
    await access.require(
        READERS, None, action="read", resource="inventory/lots/{lot_id}", resource_id=lot_id
    )
    return out(
        await access.open(
            lots, lot_id, READERS, action="read", resource="inventory/lots/{lot_id}", what="lot"
        )
    )
