"""Agencies (bootstrap), sites and staff personnel files."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, status
from halcyon.identity.api.common import PlatformOperator
from halcyon.identity.api.deps import ClockDep, Paging, Runtime, Sites, Staff
from halcyon.identity.domain.personnel import (
    NewStaffMember,
    PersonnelFile,
    SiteIn,
    Strict,
    Text,
)
from halcyon.identity.domain.roles import READ_SITES, READ_STAFF
from halcyon.identity.usecases import personnel
from halcyon.identity.usecases.staff_access import open_staff_member
from halcyon.shared.access import Access
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut
from halcyon.shared.mongo import Document
from pydantic import BaseModel, StringConstraints

router = APIRouter()


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


# -- agencies (bootstrap by the platform operator) ----------------------------------------
@router.post(
    "/agencies",
    status_code=status.HTTP_201_CREATED,
    response_model=AgencyCreated,
    tags=["platform"],
    summary="Create an agency and its first admin (platform operator only)",
    dependencies=[PlatformOperator],
)
async def create_agency(body: NewAgency, runtime: Runtime) -> AgencyCreated:
    first = personnel.FirstAdmin(body.admin.display_name, body.admin.email, body.admin.password)
    agency_id, admin_id = await personnel.create_agency(runtime, body.name, first)
    return AgencyCreated(agency_id=agency_id, admin_id=admin_id)


# -- sites --------------------------------------------------------------------------------
@router.post(
    "/sites",
    status_code=status.HTTP_201_CREATED,
    response_model=Site,
    tags=["sites"],
    summary="Add a site (agency admin for every site)",
)
async def create_site(body: SiteIn, access: Access, runtime: Runtime) -> Site:
    return _site(await personnel.add_site(runtime, access, body))


@router.get("/sites", response_model=PageOut[Site], tags=["sites"], summary="The agency's sites")
async def list_sites(access: Access, sites: Sites, page: Paging) -> PageOut[Site]:
    await access.require(READ_SITES, None, action="read", resource=f"{personnel.SITE}s")
    result = await sites.page(access.tenant_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_site(d) for d in result.items], next_cursor=result.next_cursor)


@router.get("/sites/{site_id}", response_model=Site, tags=["sites"], summary="One site")
async def read_site(site_id: str, access: Access, sites: Sites) -> Site:
    await access.require(
        READ_SITES, None, action="read", resource=personnel.SITE, resource_id=site_id
    )
    doc = await access.open(
        sites, site_id, READ_SITES, action="read", resource=personnel.SITE, what="site",
        site_of=lambda _: None,
    )  # fmt: skip
    return _site(doc)


@router.put("/sites/{site_id}", response_model=Site, tags=["sites"], summary="Change a site")
async def update_site(site_id: str, body: SiteIn, access: Access, runtime: Runtime) -> Site:
    return _site(await personnel.update_site(runtime, access, site_id, body))


# -- staff ----------------------------------------------------------------------------------
@router.post(
    "/staff",
    status_code=status.HTTP_201_CREATED,
    response_model=StaffMember,
    tags=["staff"],
    summary="Add a staff member with their personnel file",
)
async def create_staff(body: NewStaffMember, access: Access, runtime: Runtime) -> StaffMember:
    return _staff(await personnel.add_staff_member(runtime, access, body))


@router.get(
    "/staff", response_model=PageOut[StaffMember], tags=["staff"], summary="The agency's staff"
)
async def list_staff(
    access: Access, staff: Staff, page: Paging, clock: ClockDep
) -> PageOut[StaffMember]:
    await access.require(READ_STAFF, None, action="read", resource=f"{personnel.STAFF}s")
    result = await staff.page(access.tenant_id, limit=page.limit, cursor=page.cursor)
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
async def read_staff(staff_id: str, access: Access, staff: Staff, clock: ClockDep) -> StaffMember:
    doc = await open_staff_member(access, staff, staff_id, action="read", resource=personnel.STAFF)
    if access.caller.user_id != staff_id:
        await access.require(
            READ_STAFF, None, action="read", resource=personnel.STAFF, resource_id=staff_id
        )
    return _staff(doc, clock())


@router.put(
    "/staff/{staff_id}",
    response_model=StaffMember,
    tags=["staff"],
    summary="Replace a personnel file (roles, licences, DEA, NPI, documents…)",
)
async def update_staff(
    staff_id: str, body: PersonnelFile, access: Access, runtime: Runtime, clock: ClockDep
) -> StaffMember:
    doc = await personnel.update_personnel_file(runtime, access, staff_id, body)
    return _staff(doc, clock())


@router.post(
    "/staff/{staff_id}/unlock",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["staff"],
    summary="Lift a sign-in lockout",
)
async def unlock_staff(staff_id: str, access: Access, runtime: Runtime) -> None:
    await personnel.unlock(runtime, access, staff_id)


@router.post(
    "/staff/{staff_id}/mfa/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["staff"],
    summary="Remove a lost authenticator; the person enrols a new one at next sign-in",
)
async def reset_mfa(staff_id: str, access: Access, runtime: Runtime) -> None:
    await personnel.reset_second_factor(runtime, access, staff_id)
