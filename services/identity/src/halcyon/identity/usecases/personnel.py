"""Agencies, sites and personnel files: written with their events, guarded by the one
audited access check, and sessions ended at once when someone's access changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from halcyon.identity.domain.personnel import NewStaffMember, PersonnelFile, SiteIn
from halcyon.identity.domain.roles import AGENCY_ADMIN, MANAGE_AGENCY, access_changed, sites_of
from halcyon.identity.domain.sign_in import WeakPassword, check_password_policy, hash_password
from halcyon.identity.runtime import Events, IdentityRuntime
from halcyon.identity.store import AgencyRepository, SiteRepository, StaffRepository
from halcyon.identity.usecases.sessions import end_sessions
from halcyon.identity.usecases.staff_access import open_staff_member, require_at_every_site
from halcyon.shared.access import RecordAccess
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.grants import ALL_SITES
from halcyon.shared.mongo import Document, DuplicateRecord, OutboxEvent
from uuid6 import uuid7

STAFF = "identity/staff"
SITE = "identity/site"


def site_changed(events: Events, site_id: str, body: SiteIn, tenant_id: str) -> OutboxEvent:
    event = SiteChanged(
        site_id=site_id,
        name=body.name,
        timezone=body.timezone,
        address={k: v for k, v in body.address.model_dump().items() if v is not None},
        dea_registrations=[d.model_dump() for d in body.dea_registrations],
        active=body.active,
        jurisdiction=body.jurisdiction,
    )
    return events.event(event, tenant_id=tenant_id)


def staff_member_changed(
    events: Events, staff_id: str, body: PersonnelFile, tenant_id: str
) -> OutboxEvent:
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
    return events.event(event, tenant_id=tenant_id)


def require_strong(password: str, email: str, field: str) -> None:
    try:
        check_password_policy(password, email)
    except WeakPassword as exc:
        raise RuleViolation(str(exc), field=field) from None


@dataclass(frozen=True)
class FirstAdmin:
    display_name: str
    email: str
    password: str


async def create_agency(runtime: IdentityRuntime, name: str, admin: FirstAdmin) -> tuple[str, str]:
    """A new agency and its first admin (agency-wide); returns (agency id, admin id)."""
    require_strong(admin.password, admin.email, "admin.password")
    now = runtime.parts.clock()
    agency_id = str(uuid7())
    admin_id = str(uuid7())
    personnel = PersonnelFile(
        display_name=admin.display_name,
        email=admin.email,
        roles=[{"site": ALL_SITES, "role": AGENCY_ADMIN}],
    )
    # Admin first: an agency document without an admin would be unusable.
    await runtime.repo(StaffRepository).insert(
        agency_id,
        {
            "_id": admin_id,
            **personnel.model_dump(mode="json"),
            "auth": {"password_hash": hash_password(admin.password), "failed_attempts": 0},
            "created_at": now,
        },
        [staff_member_changed(runtime, admin_id, personnel, agency_id)],
    )
    await runtime.repo(AgencyRepository).insert(
        agency_id, {"_id": agency_id, "name": name, "created_at": now}
    )
    return agency_id, admin_id


async def add_site(runtime: IdentityRuntime, access: RecordAccess, body: SiteIn) -> Document:
    """A new site: only an agency-wide admin adds one."""
    await access.require(MANAGE_AGENCY, ALL_SITES, action="create", resource=SITE)
    site_id = str(uuid7())
    return await runtime.repo(SiteRepository).insert(
        access.tenant_id,
        {"_id": site_id, **body.model_dump(mode="json"), "created_at": runtime.parts.clock()},
        [site_changed(runtime, site_id, body, access.tenant_id)],
    )


async def update_site(
    runtime: IdentityRuntime, access: RecordAccess, site_id: str, body: SiteIn
) -> Document:
    sites = runtime.repo(SiteRepository)
    await access.open(
        sites, site_id, MANAGE_AGENCY, action="update", resource=SITE, what="site",
        site_of=lambda doc: str(doc["_id"]),
    )  # fmt: skip
    doc = await sites.update(
        access.tenant_id,
        {"_id": site_id},
        {"$set": body.model_dump(mode="json")},
        [site_changed(runtime, site_id, body, access.tenant_id)],
    )
    if doc is None:  # removed between the check and the write
        raise NotFound(f"no site {site_id} in your agency")
    return doc


async def validate_references(
    runtime: IdentityRuntime, tenant_id: str, body: PersonnelFile, staff_id: str | None
) -> None:
    """Every site and the supervisor named are the agency's (before anything is written)."""
    for site in sorted(body.sites() - {ALL_SITES}):
        if await runtime.repo(SiteRepository).get(tenant_id, site) is None:
            raise RuleViolation(f"no site {site} in your agency", field="roles")
    if body.supervisor_id:
        if body.supervisor_id == staff_id:
            raise RuleViolation("a staff member cannot supervise themselves", field="supervisor_id")
        if await runtime.repo(StaffRepository).get(tenant_id, body.supervisor_id) is None:
            raise RuleViolation("no such supervisor in your agency", field="supervisor_id")


async def add_staff_member(
    runtime: IdentityRuntime, access: RecordAccess, body: NewStaffMember
) -> Document:
    """An admin of every site the person will work at adds their personnel file."""
    await require_at_every_site(
        access, MANAGE_AGENCY, body.sites(), action="create", resource=STAFF
    )
    await validate_references(runtime, access.tenant_id, body, None)
    require_strong(body.initial_password, body.email, "initial_password")
    staff_id = str(uuid7())
    personnel = PersonnelFile.model_validate(body.model_dump(exclude={"initial_password"}))
    try:
        return await runtime.repo(StaffRepository).insert(
            access.tenant_id,
            {
                "_id": staff_id,
                **personnel.model_dump(mode="json"),
                "auth": {
                    "password_hash": hash_password(body.initial_password),
                    "failed_attempts": 0,
                },
                "created_at": runtime.parts.clock(),
                "created_by": access.caller.user_id,
            },
            [staff_member_changed(runtime, staff_id, personnel, access.tenant_id)],
        )
    except DuplicateRecord:
        raise Conflict(f"{body.email} already has an account in your agency") from None


async def open_to_manage(
    runtime: IdentityRuntime, access: RecordAccess, staff_id: str, action: str
) -> Document:
    """The staff member, if the caller administers every site they work at."""
    staff = runtime.repo(StaffRepository)
    current = await open_staff_member(access, staff, staff_id, action=action, resource=STAFF)
    await require_at_every_site(
        access, MANAGE_AGENCY, sites_of(current), action=action, resource=STAFF,
        resource_id=staff_id,
    )  # fmt: skip
    return current


async def update_personnel_file(
    runtime: IdentityRuntime, access: RecordAccess, staff_id: str, body: PersonnelFile
) -> Document:
    """Replace a personnel file; the person's sessions end if their access changed."""
    staff = runtime.repo(StaffRepository)
    current = await open_staff_member(access, staff, staff_id, action="update", resource=STAFF)
    old_sites = sites_of(current) | set(current.get("on_call_sites") or [])
    await require_at_every_site(
        access, MANAGE_AGENCY, old_sites | body.sites(), action="update", resource=STAFF,
        resource_id=staff_id,
    )  # fmt: skip
    await validate_references(runtime, access.tenant_id, body, staff_id)
    fields: dict[str, Any] = body.model_dump(mode="json")
    now = runtime.parts.clock()
    try:
        doc = await staff.update(
            access.tenant_id,
            {"_id": staff_id},
            {"$set": {**fields, "updated_at": now, "updated_by": access.caller.user_id}},
            [staff_member_changed(runtime, staff_id, body, access.tenant_id)],
        )
    except DuplicateRecord:
        raise Conflict(f"{body.email} already has an account in your agency") from None
    if doc is None:  # removed between the check and the write
        raise NotFound(f"no staff member {staff_id} in your agency")
    reason = access_changed(
        current["roles"], fields["roles"], current.get("active", True), body.active
    )
    if reason:
        # Someone who leaves, or whose roles change, loses every session and its access
        # tokens now, not when a token expires (ADR 0103, 0104).
        await end_sessions(runtime, access.tenant_id, staff_id, reason, now=runtime.parts.clock())
    return doc


async def unlock(runtime: IdentityRuntime, access: RecordAccess, staff_id: str) -> None:
    """Lift a sign-in lockout (audited)."""
    await open_to_manage(runtime, access, staff_id, "unlock")
    await runtime.repo(StaffRepository).update(
        access.tenant_id,
        {"_id": staff_id},
        {"$set": {"auth.locked_until": None, "auth.failed_attempts": 0}},
    )
    await access.audit.record(
        access.caller, action="unlock", resource=STAFF, resource_id=staff_id,
        request=access.request,
    )  # fmt: skip


async def reset_second_factor(
    runtime: IdentityRuntime, access: RecordAccess, staff_id: str
) -> None:
    """Remove a lost authenticator; the person's sessions end and they enrol again."""
    await open_to_manage(runtime, access, staff_id, "mfa_reset")
    if staff_id == access.caller.user_id:
        raise RuleViolation("another admin must reset your own second factor")
    await runtime.repo(StaffRepository).update(
        access.tenant_id,
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
    await end_sessions(runtime, access.tenant_id, staff_id, "mfa_reset", now=runtime.parts.clock())
    await access.audit.record(
        access.caller, action="mfa_reset", resource=STAFF, resource_id=staff_id,
        request=access.request,
    )  # fmt: skip
