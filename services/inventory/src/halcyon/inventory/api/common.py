"""What every inventory route needs: records loaded within the caller's tenant, roles."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from halcyon.inventory.domain.deadlines import site_date
from halcyon.inventory.domain.quantities import (
    InexactQuantity,
    Micrograms,
    mg_text,
    mg_to_ug,
    ml_to_ug,
)
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
from halcyon.inventory.usecases.posting import LedgerWriter, chain_tips, ledger_key
from halcyon.shared.auth import Caller
from halcyon.shared.errors import BadRequest, DomainError, NotFound, RuleViolation, Unauthenticated
from halcyon.shared.mongo import Document, TenantRepository
from halcyon.shared.service import Runtime, repository, runtime_of
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
        key=ledger_key(runtime),
    )


class Record(BaseModel):
    """A stored record as the API shows it: ``id`` instead of ``_id``, no tenant field."""

    model_config = ConfigDict(extra="allow")
    id: str


def out(doc: Document) -> Record:
    fields = {k: v for k, v in doc.items() if k not in {"_id", "tenant_id"}}
    return Record(id=str(doc["_id"]), **with_milligrams(fields))


def _mg_key(key: str) -> str | None:
    """``quantity_ug`` → ``quantity_mg``, ``concentration_ug_per_ml`` → ``…_mg_per_ml``."""
    if key.endswith("_ug"):
        return key[:-3] + "_mg"
    if "_ug_per_" in key:
        return key.replace("_ug_per_", "_mg_per_")
    return None


def with_milligrams(value: Any) -> Any:
    """Every stored microgram figure shown beside itself as exact decimal milligrams
    (``"quantity_ug": 100`` → also ``"quantity_mg": "0.1"``): what people read (ADR 0502)."""
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for key, item in value.items():
            shown[key] = with_milligrams(item)
            mg_key = _mg_key(str(key))
            if mg_key and isinstance(item, int) and not isinstance(item, bool):
                shown[mg_key] = mg_text(item)
        return shown
    if isinstance(value, list):
        return [with_milligrams(v) for v in value]
    return value


def dose_ug(product: Document, quantity_mg: Decimal | None, quantity_ml: Decimal | None) -> int:
    """The quantity asked for, in micrograms: mg as given, or mL through the product's
    concentration, exactly (a 422 otherwise)."""
    try:
        if quantity_mg is not None:
            return mg_to_ug(quantity_mg)
        concentration: Micrograms | None = product.get("concentration_ug_per_ml")
        if not concentration:
            raise RuleViolation(
                f"{product.get('substance')} {product.get('form')} has no concentration on"
                " file: give the quantity in mg",
                field="quantity_ml",
            )
        assert quantity_ml is not None
        return ml_to_ug(quantity_ml, mg_text(concentration))
    except InexactQuantity as error:
        raise RuleViolation(str(error), field="quantity_ml") from None


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
            "strength_ug": self.product["strength_ug"],
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


async def site_timezone(sites: SiteDirectory, tenant_id: str, site_id: str) -> str | None:
    """The site's IANA zone as identity announced it (None: unknown, dates fall back to UTC)."""
    site = await sites.get(tenant_id, site_id)
    zone = site.get("timezone") if site else None
    return str(zone) if zone else None


async def site_today(sites: SiteDirectory, tenant_id: str, site_id: str) -> date:
    """Today at the site: the day people there would name."""
    return site_date(datetime.now(UTC), await site_timezone(sites, tenant_id, site_id))


log = logging.getLogger("halcyon.inventory.audit")
_ACTIONS = {"GET": "read", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def _refusal_reason(refusal: Exception) -> str:
    """Why it was refused, without echoing what was sent (it may hold health data)."""
    if isinstance(refusal, RequestValidationError):
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in refusal.errors()})
        return f"invalid request: {', '.join(f for f in fields if f) or 'body'}"
    rule = refusal.extensions.get("rule") if isinstance(refusal, DomainError) else None
    return f"{type(refusal).__name__}: {refusal}{f' ({rule})' if rule else ''}"[:500]


class RefusalsAudited(APIRoute):
    """Every refusal of a request (role, site, validation, rule, short stock; not a request
    that cannot be read at all, such as a forged cursor) lands in the
    access audit as ``denied`` with its reason (HIPAA 45 CFR 164.312(b)): an attempt that
    failed is as much an access attempt as one that succeeded."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        resource = f"inventory{self.path_format}"

        async def audited(request: Request) -> Response:
            try:
                return await handler(request)
            except (DomainError, RequestValidationError) as refusal:
                caller = getattr(request.state, "caller", None)
                # A request that cannot be read (400: a cursor we never handed out) made no
                # access decision; like every other malformed request it writes nothing.
                unread = isinstance(refusal, (Unauthenticated, BadRequest))
                if isinstance(caller, Caller) and not unread:
                    try:
                        await runtime_of(request).audit.record(
                            caller,
                            action=_ACTIONS.get(request.method, request.method.lower()),
                            resource=resource,
                            resource_id=next(iter(request.path_params.values()), None),
                            outcome="denied",
                            reason=_refusal_reason(refusal),
                            request=request,
                        )
                    except Exception:  # the refusal itself must still reach the caller
                        log.exception("could not audit a refused %s %s", request.method, resource)
                raise

        return audited


async def audit_client_read(
    audit: Any,
    caller: Caller,
    request: Request,
    *,
    resource: str,
    resource_id: str,
    client_ids: Iterable[str | None],
    site_id: str | None = None,
    action: str = "read",
) -> None:
    """One audit entry per client whose data the response shows (so identity's log
    answers "who saw this client's records"), or one entry when it shows none."""
    await audit.record_reads(
        caller, action=action, resource=resource, resource_id=resource_id,
        client_ids=client_ids, site_id=site_id, request=request,
    )  # fmt: skip
