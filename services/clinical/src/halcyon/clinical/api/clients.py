"""Clients: registration (with a duplicate warning), search, identifiers, care team."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from halcyon.clinical.domain.clients import (
    CareTeamMemberOut,
    CareTeamUpdate,
    Client,
    ClientRegistration,
    ClientUpdate,
    IdentifierOut,
    duplicate_warning,
    fold,
    format_mrn,
    identifier_fingerprint,
    name_key,
)
from halcyon.clinical.store import SiteDirectory, StaffDirectory
from halcyon.clinical.usecases.chart import (
    DEMOGRAPHIC_READERS,
    FRONT_DESK,
    REGISTRARS,
    Clients,
    event,
    open_chart,
)
from halcyon.shared.auth import ALL_SITES, Caller
from halcyon.shared.contracts.clinical import (
    ClientAddress,
    ClientDetailsChanged,
    ClientRegistered,
)
from halcyon.shared.crypto import FieldCipher, mask
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.references import resolve_site
from halcyon.shared.service import Audit, Runtime, repository
from uuid6 import uuid7

router = APIRouter(prefix="/clients", tags=["clients"])
Staff = Annotated[StaffDirectory, repository(StaffDirectory)]
Sites = Annotated[SiteDirectory, repository(SiteDirectory)]


def field_cipher(runtime: Runtime) -> FieldCipher:
    cipher = runtime.extras.get("field_cipher")
    if cipher is None:
        cipher = FieldCipher(runtime.settings.field_encryption_key)
        runtime.extras["field_cipher"] = cipher
    assert isinstance(cipher, FieldCipher)
    return cipher


Cipher = Annotated[FieldCipher, Depends(field_cipher)]


def licence_label(licence: dict[str, Any]) -> str:
    return f"{licence['type']} {licence['state']} {licence['number']}"


def to_client(doc: Document, staff: dict[str, Document] | None = None) -> Client:
    identifiers = [IdentifierOut(system="mrn", value=doc["mrn"])]
    national = doc.get("national_identifier")
    if national:
        identifiers.append(
            IdentifierOut(
                system=national["kind"], value=national["masked"], country=national["country"]
            )
        )
    team = []
    for member in doc.get("care_team", []):
        known = (staff or {}).get(member["staff_id"])
        team.append(
            CareTeamMemberOut(
                staff_id=member["staff_id"],
                role=member["role"],
                display_name=known.get("display_name") if known else None,
                licences=[licence_label(x) for x in known.get("licences", [])] if known else [],
                active=known.get("active") if known else None,
            )
        )
    plain = {
        k: v
        for k, v in doc.items()
        if k in Client.model_fields and k not in {"id", "identifiers", "care_team"}
    }
    return Client(id=doc["_id"], identifiers=identifiers, care_team=team, **plain)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Client,
    summary="Register a client (warns about likely duplicates)",
)
async def register_client(
    body: ClientRegistration,
    caller: CurrentCaller,
    clients: Clients,
    cipher: Cipher,
    runtime: Runtime,
    sites: Sites,
    audit: Audit,
    request: Request,
) -> Client:
    caller.require(REGISTRARS, body.home_site_id)
    dob = body.date_of_birth.isoformat()
    key = name_key(body.given_name, body.family_name)
    national = body.national_identifier.normalised() if body.national_identifier else None
    fingerprint = (
        identifier_fingerprint(runtime.settings.field_encryption_key, caller.tenant_id, national)
        if national
        else None
    )
    duplicates = await clients.likely_duplicates(caller.tenant_id, key, dob, fingerprint)
    client_id = str(uuid7())
    document: dict[str, Any] = {
        "_id": client_id,
        **body.model_dump(mode="json", exclude={"national_identifier"}),
        "name_key": key,
        "family_key": fold(body.family_name),
        "registered_at": datetime.now(UTC),
        "registered_by": caller.user_id,
        "possible_duplicate_of": [d["_id"] for d in duplicates],
        "duplicate_warning": duplicate_warning(len(duplicates)),
        "care_team": [],
    }
    if body.national_identifier is not None and national is not None:
        document["national_identifier"] = {
            "kind": body.national_identifier.kind,
            "country": body.national_identifier.country,
            # Encrypted with the agency's own key; only the mask is ever shown.
            "ciphertext": cipher.encrypt(caller.tenant_id, national),
            "masked": mask(national),
            "fingerprint": fingerprint,
        }
    # The MRN is taken last, after every check, so a refused request leaves no gap.
    home_site = await resolve_site(sites, caller, body.home_site_id, field="home_site_id")
    document["mrn"] = format_mrn(await clients.next_mrn_sequence(caller.tenant_id))
    registered = ClientRegistered(
        client_id=client_id,
        home_site_id=body.home_site_id,
        given_name=body.given_name,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        preferred_language=body.preferred_language,
        email=body.email,
        phone=body.phone,
        address=ClientAddress(**body.address.model_dump()) if body.address else None,
        # The home site's zone (from identity), for reminders in the client's local time.
        timezone=home_site.get("timezone") if home_site else None,
    )
    saved = await clients.insert(caller.tenant_id, document, [event(registered, caller.tenant_id)])
    await audit.record(
        caller,
        action="create",
        resource="clinical/client",
        resource_id=client_id,
        client_id=client_id,
        site_id=body.home_site_id,
        request=request,
    )
    return to_client(saved)


async def _staff_for(staff: StaffDirectory, tenant_id: str, doc: Document) -> dict[str, Document]:
    ids = [m["staff_id"] for m in doc.get("care_team", [])]
    if not ids:
        return {}
    return {s["_id"]: s for s in await staff.find(tenant_id, {"_id": {"$in": ids}})}


@router.get("/{client_id}", response_model=Client, summary="Read one client")
async def read_client(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    staff: Staff,
    audit: Audit,
    request: Request,
) -> Client:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        DEMOGRAPHIC_READERS,
        action="read",
        resource="clinical/client",
        resource_id=client_id,
    )
    await chart.record("read", "clinical/client", client_id)
    return to_client(chart.client, await _staff_for(staff, caller.tenant_id, chart.client))


def readable_sites(caller: Caller) -> list[str] | None:
    """Sites whose clients the caller may look up; None means every site of the agency."""
    sites = {g.site_id for g in caller.grants if g.role in DEMOGRAPHIC_READERS}
    return None if ALL_SITES in sites else sorted(sites)


@router.get(
    "",
    response_model=PageOut[Client],
    summary="Find clients by name (prefix), date of birth or MRN; paginated",
)
async def search_clients(
    caller: CurrentCaller,
    clients: Clients,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    name: Annotated[str | None, Query(max_length=100, description="family name prefix")] = None,
    date_of_birth: date | None = None,
    mrn: Annotated[str | None, Query(pattern=r"^MRN-[0-9]{6,}$")] = None,
) -> PageOut[Client]:
    caller.require(DEMOGRAPHIC_READERS)
    folded = fold(name) if name else None
    if name is not None and not folded:
        raise RuleViolation("the name to search for has no letters")
    result = await clients.search(
        caller.tenant_id,
        name=folded,
        date_of_birth=date_of_birth.isoformat() if date_of_birth else None,
        mrn=mrn,
        sites=readable_sites(caller),
        limit=page.limit,
        cursor=page.cursor,
    )
    # A search result is a read of each client it shows.
    for doc in result.items:
        await audit.record(
            caller,
            action="search",
            resource="clinical/client",
            resource_id=doc["_id"],
            client_id=doc["_id"],
            site_id=doc["home_site_id"],
            request=request,
        )
    return PageOut(items=[to_client(d) for d in result.items], next_cursor=result.next_cursor)


@router.put("/{client_id}/care-team", response_model=Client, summary="Set the care team")
async def set_care_team(
    client_id: str,
    body: CareTeamUpdate,
    caller: CurrentCaller,
    clients: Clients,
    staff: Staff,
    audit: Audit,
    request: Request,
) -> Client:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        FRONT_DESK | {"therapist", "prescriber"},
        action="update",
        resource="clinical/care-team",
    )
    members = body.model_dump(mode="json")["members"]
    if len({(m["staff_id"], m["role"]) for m in members}) != len(members):
        raise RuleViolation("a staff member is listed twice in the same role")
    updated = await clients.update(
        caller.tenant_id, {"_id": client_id}, {"$set": {"care_team": members}}
    )
    assert updated is not None
    await chart.record("update", "clinical/care-team", client_id)
    return to_client(updated, await _staff_for(staff, caller.tenant_id, updated))


@router.patch(
    "/{client_id}",
    response_model=Client,
    summary="Change demographics or contact details (only the fields sent)",
)
async def update_client(
    client_id: str,
    body: ClientUpdate,
    caller: CurrentCaller,
    clients: Clients,
    staff: Staff,
    sites: Sites,
    audit: Audit,
    request: Request,
) -> Client:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        REGISTRARS,
        action="update",
        resource="clinical/client",
        resource_id=client_id,
    )
    changes = body.changes()
    if body.home_site_id:
        caller.require(REGISTRARS, body.home_site_id)  # moving a client needs both sites
        await resolve_site(sites, caller, body.home_site_id, field="home_site_id")
    merged = {**chart.client, **changes}
    changes["name_key"] = name_key(merged["given_name"], merged["family_name"])
    changes["family_key"] = fold(merged["family_name"])
    changes["updated_at"] = datetime.now(UTC)
    changed = ClientDetailsChanged(
        client_id=client_id,
        home_site_id=merged["home_site_id"],
        given_name=merged["given_name"],
        family_name=merged["family_name"],
        date_of_birth=merged["date_of_birth"],
        preferred_language=merged.get("preferred_language"),
        pronouns=merged.get("pronouns"),
        email=merged.get("email"),
        phone=merged.get("phone"),
        address=ClientAddress(**merged["address"]) if merged.get("address") else None,
        changed_at=changes["updated_at"],
    )
    updated = await clients.update(
        caller.tenant_id,
        {"_id": client_id},
        {"$set": changes},
        [event(changed, caller.tenant_id)],
    )
    assert updated is not None
    await chart.record("update", "clinical/client", client_id)
    return to_client(updated, await _staff_for(staff, caller.tenant_id, updated))
