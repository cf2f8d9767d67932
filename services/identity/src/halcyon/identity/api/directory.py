"""Agencies (bootstrap), sites and staff personnel files."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from halcyon.identity.api.common import ClockDep, PlatformOperator, Settings
from halcyon.identity.domain.personnel import (
    NewStaffMember,
    PersonnelFile,
    SiteIn,
    Strict,
    Text,
)
from halcyon.identity.domain.roles import (
    AGENCY_ADMIN,
    MANAGE_AGENCY,
    READ_SITES,
    READ_STAFF,
    access_changed,
)
from halcyon.identity.domain.sign_in import WeakPassword, check_password_policy, hash_password
from halcyon.identity.store import (
    AgencyRepository,
    RefreshTokenRepository,
    RevocationRepository,
    SiteRepository,
    StaffRepository,
)
from halcyon.identity.usecases.sessions import end_sessions
from halcyon.identity.usecases.staff_access import require_at_every_site
from halcyon.shared.auth import ALL_SITES, Caller
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, DuplicateRecord, OutboxEvent
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel, StringConstraints
from uuid6 import uuid7

router = APIRouter()
Agencies = Annotated[AgencyRepository, repository(AgencyRepository)]
Sites = Annotated[SiteRepository, repository(SiteRepository)]
Staff = Annotated[StaffRepository, repository(StaffRepository)]
RefreshTokens = Annotated[RefreshTokenRepository, repository(RefreshTokenRepository)]
Revocations = Annotated[RevocationRepository, repository(RevocationRepository)]
Paging = Annotated[PageParams, Depends(page_params)]
SOURCE = "/halcyon/identity"


# -- models -------------------------------------------------------------------------------
class FirstAdmin(Strict):
    display_name: Text
    email: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
        ),
    ]
    password: str


class NewAgency(Strict):
    name: Text
    admin: FirstAdmin


class AgencyCreated(BaseModel):
    agency_id: str
    admin_id: str


class Site(SiteIn):
    id: str


class StaffMember(PersonnelFile):
    id: str
    mfa_enrolled: bool = False
    locked: bool = False


def _site(doc: Document) -> Site:
    return Site(id=doc["_id"], **{k: doc[k] for k in SiteIn.model_fields if k in doc})


def _staff(doc: Document, now: datetime | None = None) -> StaffMember:
    auth = doc.get("auth") or {}
    locked_until = auth.get("locked_until")
    return StaffMember(
        id=doc["_id"],
        mfa_enrolled=bool(auth.get("totp_enabled")),
        locked=bool(locked_until and now and locked_until > now),
        **{k: doc[k] for k in PersonnelFile.model_fields if k in doc},
    )


def _site_event(site_id: str, body: SiteIn, tenant_id: str) -> OutboxEvent:
    event = SiteChanged(
        site_id=site_id,
        name=body.name,
        timezone=body.timezone,
        address={k: v for k, v in body.address.model_dump().items() if v is not None},
        dea_registrations=[d.model_dump() for d in body.dea_registrations],
        active=body.active,
        jurisdiction=body.jurisdiction,
    )
    return OutboxEvent(EventEnvelope.wrap(event, source=SOURCE, tenant_id=tenant_id), event.topic)


def _staff_event(staff_id: str, body: PersonnelFile, tenant_id: str) -> OutboxEvent:
    event = StaffMemberChanged(
        staff_id=staff_id,
        display_name=body.display_name,
        email=body.email,
        roles=[r.model_dump() for r in body.roles],
        licences=[c.model_dump() for c in body.licences],
        dea_registrations=[c.model_dump() for c in body.dea_registrations],
        authorised_prescriber_approvals=[
            c.model_dump() for c in body.authorised_prescriber_approvals
        ],
        npi=body.npi,
        supervisor_id=body.supervisor_id,
        on_call_sites=body.on_call_sites,
        active=body.active,
    )
    return OutboxEvent(EventEnvelope.wrap(event, source=SOURCE, tenant_id=tenant_id), event.topic)


# -- agencies (bootstrap by the platform operator) ----------------------------------------
@router.post(
    "/agencies",
    status_code=status.HTTP_201_CREATED,
    response_model=AgencyCreated,
    tags=["platform"],
    summary="Create an agency and its first admin (platform operator only)",
)
async def create_agency(
    body: NewAgency, _: PlatformOperator, agencies: Agencies, staff: Staff, clock: ClockDep
) -> AgencyCreated:
    try:
        check_password_policy(body.admin.password, body.admin.email)
    except WeakPassword as exc:
        raise RuleViolation(str(exc), field="admin.password") from None
    now = clock()
    agency_id = str(uuid7())
    admin_id = str(uuid7())
    admin = PersonnelFile(
        display_name=body.admin.display_name,
        email=body.admin.email,
        roles=[{"site": ALL_SITES, "role": AGENCY_ADMIN}],
    )
    # Admin first: an agency document without an admin would be unusable.
    await staff.insert(
        agency_id,
        {
            "_id": admin_id,
            **admin.model_dump(mode="json"),
            "auth": {"password_hash": hash_password(body.admin.password), "failed_attempts": 0},
            "created_at": now,
        },
        [_staff_event(admin_id, admin, agency_id)],
    )
    await agencies.insert(agency_id, {"_id": agency_id, "name": body.name, "created_at": now})
    return AgencyCreated(agency_id=agency_id, admin_id=admin_id)


# -- sites --------------------------------------------------------------------------------
@router.post(
    "/sites",
    status_code=status.HTTP_201_CREATED,
    response_model=Site,
    tags=["sites"],
    summary="Add a site (agency admin for every site)",
)
async def create_site(body: SiteIn, caller: CurrentCaller, sites: Sites, clock: ClockDep) -> Site:
    caller.require(MANAGE_AGENCY, ALL_SITES)
    site_id = str(uuid7())
    doc = await sites.insert(
        caller.tenant_id,
        {"_id": site_id, **body.model_dump(mode="json"), "created_at": clock()},
        [_site_event(site_id, body, caller.tenant_id)],
    )
    return _site(doc)


@router.get("/sites", response_model=PageOut[Site], tags=["sites"], summary="The agency's sites")
async def list_sites(caller: CurrentCaller, sites: Sites, page: Paging) -> PageOut[Site]:
    caller.require(READ_SITES)
    result = await sites.page(caller.tenant_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_site(d) for d in result.items], next_cursor=result.next_cursor)


@router.get("/sites/{site_id}", response_model=Site, tags=["sites"], summary="One site")
async def read_site(site_id: str, caller: CurrentCaller, sites: Sites) -> Site:
    caller.require(READ_SITES)
    doc = await sites.get(caller.tenant_id, site_id)
    if doc is None:
        raise NotFound(f"no site {site_id} in your agency")
    return _site(doc)


@router.put("/sites/{site_id}", response_model=Site, tags=["sites"], summary="Change a site")
async def update_site(site_id: str, body: SiteIn, caller: CurrentCaller, sites: Sites) -> Site:
    if await sites.get(caller.tenant_id, site_id) is None:
        raise NotFound(f"no site {site_id} in your agency")
    caller.require(MANAGE_AGENCY, site_id)
    doc = await sites.update(
        caller.tenant_id,
        {"_id": site_id},
        {"$set": body.model_dump(mode="json")},
        [_site_event(site_id, body, caller.tenant_id)],
    )
    assert doc is not None
    return _site(doc)


# -- staff ----------------------------------------------------------------------------------
def _require_admin_of(caller: Caller, sites: set[str]) -> None:
    """An admin manages staff only at sites they administer ("*" needs an agency-wide admin)."""
    require_at_every_site(caller, MANAGE_AGENCY, sites)


async def _validate_references(
    caller: Caller, body: PersonnelFile, sites: Sites, staff: Staff, staff_id: str | None
) -> None:
    for site in sorted(body.sites() - {ALL_SITES}):
        if await sites.get(caller.tenant_id, site) is None:
            raise RuleViolation(f"no site {site} in your agency", field="roles")
    if body.supervisor_id:
        if body.supervisor_id == staff_id:
            raise RuleViolation("a staff member cannot supervise themselves", field="supervisor_id")
        if await staff.get(caller.tenant_id, body.supervisor_id) is None:
            raise RuleViolation("no such supervisor in your agency", field="supervisor_id")


@router.post(
    "/staff",
    status_code=status.HTTP_201_CREATED,
    response_model=StaffMember,
    tags=["staff"],
    summary="Add a staff member with their personnel file",
)
async def create_staff(
    body: NewStaffMember, caller: CurrentCaller, sites: Sites, staff: Staff, clock: ClockDep
) -> StaffMember:
    _require_admin_of(caller, body.sites())
    await _validate_references(caller, body, sites, staff, None)
    try:
        check_password_policy(body.initial_password, body.email)
    except WeakPassword as exc:
        raise RuleViolation(str(exc), field="initial_password") from None
    staff_id = str(uuid7())
    personnel = PersonnelFile.model_validate(body.model_dump(exclude={"initial_password"}))
    try:
        doc = await staff.insert(
            caller.tenant_id,
            {
                "_id": staff_id,
                **personnel.model_dump(mode="json"),
                "auth": {
                    "password_hash": hash_password(body.initial_password),
                    "failed_attempts": 0,
                },
                "created_at": clock(),
                "created_by": caller.user_id,
            },
            [_staff_event(staff_id, personnel, caller.tenant_id)],
        )
    except DuplicateRecord:
        raise Conflict(f"{body.email} already has an account in your agency") from None
    return _staff(doc)


@router.get(
    "/staff", response_model=PageOut[StaffMember], tags=["staff"], summary="The agency's staff"
)
async def list_staff(
    caller: CurrentCaller, staff: Staff, page: Paging, clock: ClockDep
) -> PageOut[StaffMember]:
    caller.require(READ_STAFF)
    result = await staff.page(caller.tenant_id, limit=page.limit, cursor=page.cursor)
    now = clock()
    return PageOut(items=[_staff(d, now) for d in result.items], next_cursor=result.next_cursor)


@router.get("/me", response_model=StaffMember, tags=["staff"], summary="My personnel file")
async def me(caller: CurrentCaller, staff: Staff, clock: ClockDep) -> StaffMember:
    doc = await staff.get(caller.tenant_id, caller.user_id)
    if doc is None:
        raise NotFound("no personnel file for this caller")
    return _staff(doc, clock())


@router.get(
    "/staff/{staff_id}", response_model=StaffMember, tags=["staff"], summary="One personnel file"
)
async def read_staff(
    staff_id: str, caller: CurrentCaller, staff: Staff, clock: ClockDep
) -> StaffMember:
    doc = await staff.get(caller.tenant_id, staff_id)
    if doc is None:
        raise NotFound(f"no staff member {staff_id} in your agency")
    if caller.user_id != staff_id:
        caller.require(READ_STAFF)
    return _staff(doc, clock())


@router.put(
    "/staff/{staff_id}",
    response_model=StaffMember,
    tags=["staff"],
    summary="Replace a personnel file (roles, licences, DEA, NPI, documents…)",
)
async def update_staff(
    staff_id: str,
    body: PersonnelFile,
    caller: CurrentCaller,
    sites: Sites,
    staff: Staff,
    refresh_tokens: RefreshTokens,
    revocations: Revocations,
    settings: Settings,
    clock: ClockDep,
) -> StaffMember:
    current = await staff.get(caller.tenant_id, staff_id)
    if current is None:
        raise NotFound(f"no staff member {staff_id} in your agency")
    old_sites = {r["site"] for r in current["roles"]} | set(current.get("on_call_sites") or [])
    _require_admin_of(caller, old_sites | body.sites())
    await _validate_references(caller, body, sites, staff, staff_id)
    fields: dict[str, Any] = body.model_dump(mode="json")
    try:
        doc = await staff.update(
            caller.tenant_id,
            {"_id": staff_id},
            {"$set": {**fields, "updated_at": clock(), "updated_by": caller.user_id}},
            [_staff_event(staff_id, body, caller.tenant_id)],
        )
    except DuplicateRecord:
        raise Conflict(f"{body.email} already has an account in your agency") from None
    assert doc is not None
    reason = access_changed(
        current["roles"], fields["roles"], current.get("active", True), body.active
    )
    if reason:
        # Someone who leaves, or whose roles change, loses every session and its access
        # tokens now, not when a token expires (ADR 0103, 0104).
        await end_sessions(
            caller.tenant_id,
            staff_id,
            reason,
            refresh_tokens=refresh_tokens,
            revocations=revocations,
            settings=settings,
            now=clock(),
        )
    return _staff(doc, clock())


@router.post(
    "/staff/{staff_id}/unlock",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["staff"],
    summary="Lift a sign-in lockout",
)
async def unlock_staff(
    staff_id: str, caller: CurrentCaller, staff: Staff, audit: Audit, request: Request
) -> None:
    current = await staff.get(caller.tenant_id, staff_id)
    if current is None:
        raise NotFound(f"no staff member {staff_id} in your agency")
    _require_admin_of(caller, {r["site"] for r in current["roles"]})
    await staff.update(
        caller.tenant_id,
        {"_id": staff_id},
        {"$set": {"auth.locked_until": None, "auth.failed_attempts": 0}},
    )
    await audit.record(
        caller, action="unlock", resource="identity/staff", resource_id=staff_id, request=request
    )


@router.post(
    "/staff/{staff_id}/mfa/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["staff"],
    summary="Remove a lost authenticator; the person enrols a new one at next sign-in",
)
async def reset_mfa(
    staff_id: str,
    caller: CurrentCaller,
    staff: Staff,
    refresh_tokens: RefreshTokens,
    revocations: Revocations,
    settings: Settings,
    clock: ClockDep,
    audit: Audit,
    request: Request,
) -> None:
    current = await staff.get(caller.tenant_id, staff_id)
    if current is None:
        raise NotFound(f"no staff member {staff_id} in your agency")
    _require_admin_of(caller, {r["site"] for r in current["roles"]})
    if staff_id == caller.user_id:
        raise RuleViolation("another admin must reset your own second factor")
    await staff.update(
        caller.tenant_id,
        {"_id": staff_id},
        {
            "$set": {
                "auth.totp_enabled": False,
                "auth.totp_secret": None,
                "auth.totp_pending": None,
                "auth.totp_last_step": None,
            }
        },
    )
    await end_sessions(
        caller.tenant_id,
        staff_id,
        "mfa_reset",
        refresh_tokens=refresh_tokens,
        revocations=revocations,
        settings=settings,
        now=clock(),
    )
    await audit.record(
        caller,
        action="mfa_reset",
        resource="identity/staff",
        resource_id=staff_id,
        request=request,
    )
