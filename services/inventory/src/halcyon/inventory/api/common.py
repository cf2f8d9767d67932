"""What every inventory route needs: records loaded within the caller's tenant, roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from halcyon.inventory.posting import LedgerWriter, chain_tips
from halcyon.inventory.store import (
    AppointmentBook,
    Balances,
    ClientDirectory,
    Deadlines,
    Discrepancies,
    DosingSessions,
    Ledger,
    Locations,
    Lots,
    Postings,
    Products,
    Registrations,
    SiteDirectory,
    StaffDirectory,
)
from halcyon.shared.errors import NotFound, RuleViolation
from halcyon.shared.mongo import Document, TenantRepository
from halcyon.shared.service import Runtime, repository
from pydantic import BaseModel, ConfigDict

MANAGERS = {"agency_admin", "compliance_officer"}
HANDLERS = {"nurse", "prescriber", "compliance_officer"}
DISPENSERS = {"nurse", "prescriber"}
AUDITORS = {"compliance_officer", "agency_admin"}
READERS = HANDLERS | AUDITORS

Sites = Annotated[SiteDirectory, repository(SiteDirectory)]
Staff = Annotated[StaffDirectory, repository(StaffDirectory)]
Appointments = Annotated[AppointmentBook, repository(AppointmentBook)]
Clients = Annotated[ClientDirectory, repository(ClientDirectory)]
RegistrationRepo = Annotated[Registrations, repository(Registrations)]
ProductRepo = Annotated[Products, repository(Products)]
LocationRepo = Annotated[Locations, repository(Locations)]
LotRepo = Annotated[Lots, repository(Lots)]
BalanceRepo = Annotated[Balances, repository(Balances)]
LedgerRepo = Annotated[Ledger, repository(Ledger)]
DosingRepo = Annotated[DosingSessions, repository(DosingSessions)]
PostingRepo = Annotated[Postings, repository(Postings)]
DiscrepancyRepo = Annotated[Discrepancies, repository(Discrepancies)]
DeadlineRepo = Annotated[Deadlines, repository(Deadlines)]


def writer(runtime: Runtime) -> LedgerWriter:
    return LedgerWriter(
        runtime.repo(Postings),
        runtime.repo(Balances),
        runtime.repo(Ledger),
        runtime.repo(DosingSessions),
        tips=chain_tips(runtime),
    )


class Record(BaseModel):
    """A stored record as the API shows it: ``id`` instead of ``_id``, no tenant field."""

    model_config = ConfigDict(extra="allow")
    id: str


def out(doc: Document) -> Record:
    fields = {k: v for k, v in doc.items() if k not in {"_id", "tenant_id"}}
    return Record(id=str(doc["_id"]), **fields)


async def load(repo: TenantRepository, tenant_id: str, record_id: str, what: str) -> Document:
    doc = await repo.get(tenant_id, record_id)
    if doc is None:
        raise NotFound(f"no {what} {record_id} in your agency")
    return doc


async def must_exist(repo: TenantRepository, tenant_id: str, record_id: str, what: str) -> Document:
    """Like ``load``, but a missing reference in a request body is a 422, not a 404."""
    doc = await repo.get(tenant_id, record_id)
    if doc is None:
        raise RuleViolation(f"no {what} {record_id} in your agency", field=what)
    return doc


@dataclass(frozen=True)
class StockPlace:
    """A lot at a storage location, with everything a ledger entry records about it."""

    lot: Document
    product: Document
    location: Document
    registration: Document

    @property
    def site_id(self) -> str:
        return str(self.registration["site_id"])

    @property
    def schedule(self) -> str:
        return str(self.product["schedule"])

    def describe(self) -> dict[str, Any]:
        """The 21 CFR 1304.22(a) product facts every entry carries."""
        return {
            "site_id": self.site_id,
            "dea_number": self.registration["dea_number"],
            "lot_id": self.lot["_id"],
            "lot_number": self.lot["lot_number"],
            "lot_expires_on": self.lot["expires_on"],
            "location_id": self.location["_id"],
            "location_name": self.location["name"],
            "product_id": self.product["_id"],
            "substance": self.product["substance"],
            "schedule": self.product["schedule"],
            "form": self.product["form"],
            "strength_mg": self.product["strength_mg"],
            "units_per_container": self.product["units_per_container"],
            "ndc": self.product.get("ndc"),
        }


async def stock_place(runtime: Any, tenant_id: str, lot_id: str, location_id: str) -> StockPlace:
    lot = await must_exist(runtime.repo(Lots), tenant_id, lot_id, "lot")
    location = await must_exist(runtime.repo(Locations), tenant_id, location_id, "location")
    product = await must_exist(runtime.repo(Products), tenant_id, lot["product_id"], "product")
    registration = await must_exist(
        runtime.repo(Registrations), tenant_id, location["registration_id"], "registration"
    )
    return StockPlace(lot=lot, product=product, location=location, registration=registration)


async def staff_at_site(
    staff: StaffDirectory,
    tenant_id: str,
    staff_id: str,
    site_id: str,
    as_what: str,
    roles: set[str] | None = None,
) -> Document:
    """Someone named in a record (administered by, witness…) must be active staff at the
    site, and hold one of ``roles`` there when given (e.g. only nurses and prescribers
    administer)."""
    member = await staff.get(tenant_id, staff_id)
    if member is None or not member.get("active", True):
        raise RuleViolation(
            f"{as_what} {staff_id} is not an active staff member known to inventory",
            field=as_what,
        )
    here = {r.get("role") for r in member.get("roles", []) if r.get("site") in {site_id, "*"}}
    if not here:
        raise RuleViolation(f"{as_what} {staff_id} has no role at site {site_id}", field=as_what)
    if roles is not None and not here & roles:
        raise RuleViolation(
            f"{as_what} {staff_id} is not a {' or '.join(sorted(roles))} at site {site_id}",
            field=as_what,
        )
    return member


def today() -> date:
    return datetime.now(UTC).date()
