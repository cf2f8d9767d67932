"""Registrations, products, storage locations and lots."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from halcyon.inventory.api.common import (
    MANAGERS,
    READERS,
    BalanceRepo,
    LocationRepo,
    LotRepo,
    ProductRepo,
    Record,
    RefusalsAudited,
    RegistrationRepo,
    Sites,
    load,
    must_exist,
    out,
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
from halcyon.inventory.domain.substances import covers
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from uuid6 import uuid7

router = APIRouter(tags=["catalog"], route_class=RefusalsAudited)
Page = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/registrations",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Record a site's DEA registration (its ledger starts with an initial inventory)",
)
async def create_registration(
    body: RegistrationIn, caller: CurrentCaller, registrations: RegistrationRepo, sites: Sites
) -> Record:
    """21 CFR 1301.13 (what a registration covers); 21 CFR 1301.18 (Schedule I research
    registrations are tied to an approved protocol)."""
    caller.require(MANAGERS, body.site_id)
    site = await sites.get(caller.tenant_id, body.site_id)
    if site is None or not site.get("active", True):
        raise RuleViolation(
            f"site {body.site_id} is not an active site known to inventory (from identity)",
            field="site_id",
        )
    if "I" in body.schedules and (body.kind != "researcher" or not body.protocol_id):
        raise RuleViolation(
            "Schedule I is held only under a researcher registration tied to a protocol",
            rule="21 CFR 1301.18",
            field="schedules",
        )
    listed = {r["number"]: r for r in site.get("dea_registrations", [])}
    if listed:
        # Identity keeps the site's DEA certificates: the registration must be one of them,
        # for no more schedules than the certificate (and, for Schedule I, its protocol).
        certificate = listed.get(body.dea_number)
        if certificate is None:
            raise RuleViolation(
                f"identity lists no DEA registration {body.dea_number} for site {body.site_id}",
                field="dea_number",
            )
        uncovered = [s for s in body.schedules if not covers(certificate["schedules"], s)]
        if uncovered:
            raise RuleViolation(
                f"DEA registration {body.dea_number} does not cover Schedule"
                f" {', '.join(uncovered)}",
                rule="21 CFR 1301.13",
                field="schedules",
            )
        if "I" in body.schedules and certificate.get("protocol_id") != body.protocol_id:
            raise RuleViolation(
                f"the Schedule I registration is for protocol {certificate.get('protocol_id')}",
                rule="21 CFR 1301.18",
                field="protocol_id",
            )
    if body.expires_on <= datetime.now(UTC).date():
        raise RuleViolation("the registration has already expired", field="expires_on")
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "created_at": datetime.now(UTC),
        "created_by": caller.user_id,
        "initial_inventory_op": None,
        "initial_inventory_on": None,
        "last_inventory_on": None,
    }
    return out(await registrations.insert(caller.tenant_id, doc))


@router.get("/registrations/{registration_id}", response_model=Record, summary="One registration")
async def read_registration(
    registration_id: str, caller: CurrentCaller, registrations: RegistrationRepo
) -> Record:
    doc = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(READERS, doc["site_id"])
    last = doc.get("last_inventory_on")
    due = biennial_due(date.fromisoformat(last)).isoformat() if last else None
    return out({**doc, "biennial_inventory_due_on": due})


@router.get(
    "/registrations", response_model=PageOut[Record], summary="Registrations of your agency"
)
async def list_registrations(
    caller: CurrentCaller, registrations: RegistrationRepo, page: Page
) -> PageOut[Record]:
    caller.require(READERS)
    sites = caller.sites()
    query = {} if "*" in sites else {"site_id": {"$in": sorted(sites)}}
    result = await registrations.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


@router.get(
    "/registrations/{registration_id}/balances",
    response_model=PageOut[Record],
    summary="Current balance of every lot at every location of a registration",
)
async def list_balances(
    registration_id: str,
    caller: CurrentCaller,
    registrations: RegistrationRepo,
    balances: BalanceRepo,
    page: Page,
) -> PageOut[Record]:
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(READERS, registration["site_id"])
    result = await balances.page(
        caller.tenant_id,
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
async def create_product(body: ProductIn, caller: CurrentCaller, products: ProductRepo) -> Record:
    caller.require(MANAGERS)
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
        "created_by": caller.user_id,
    }
    return out(await products.insert(caller.tenant_id, doc))


@router.get("/products", response_model=PageOut[Record], summary="Products")
async def list_products(
    caller: CurrentCaller, products: ProductRepo, page: Page
) -> PageOut[Record]:
    caller.require(READERS)
    result = await products.page(caller.tenant_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/locations",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="A registered, locked storage location (21 CFR 1301.75(b))",
)
async def create_location(
    body: LocationIn,
    caller: CurrentCaller,
    locations: LocationRepo,
    registrations: RegistrationRepo,
) -> Record:
    registration = await must_exist(
        registrations, caller.tenant_id, body.registration_id, "registration"
    )
    caller.require(MANAGERS, registration["site_id"])
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "site_id": registration["site_id"],
        "created_at": datetime.now(UTC),
    }
    return out(await locations.insert(caller.tenant_id, doc))


@router.post(
    "/locations/{location_id}/lock-state",
    response_model=Record,
    summary="Record that a storage location was found unlocked, or secured again",
)
async def set_lock_state(
    location_id: str, body: LockStateIn, caller: CurrentCaller, locations: LocationRepo
) -> Record:
    """21 CFR 1301.75(b): while a location is recorded as unlocked, no Schedule I-II
    stock is received or transferred into it."""
    location = await load(locations, caller.tenant_id, location_id, "location")
    caller.require(MANAGERS, location.get("site_id"))
    changed = await locations.update(
        caller.tenant_id,
        {"_id": location_id},
        {
            "$set": {
                "locked": body.locked,
                "lock_note": body.note,
                "lock_changed_at": datetime.now(UTC),
                "lock_changed_by": caller.user_id,
            }
        },
    )
    assert changed is not None
    return out(changed)


@router.post("/lots", status_code=status.HTTP_201_CREATED, response_model=Record, summary="A lot")
async def create_lot(
    body: LotIn, caller: CurrentCaller, lots: LotRepo, products: ProductRepo
) -> Record:
    caller.require(MANAGERS | {"nurse", "prescriber"})
    await must_exist(products, caller.tenant_id, body.product_id, "product")
    doc = {
        "_id": str(uuid7()),
        **body.model_dump(mode="json"),
        "created_at": datetime.now(UTC),
        "created_by": caller.user_id,
    }
    return out(await lots.insert(caller.tenant_id, doc))


@router.get("/lots/{lot_id}", response_model=Record, summary="One lot")
async def read_lot(lot_id: str, caller: CurrentCaller, lots: LotRepo) -> Record:
    caller.require(READERS)
    return out(await load(lots, caller.tenant_id, lot_id, "lot"))
