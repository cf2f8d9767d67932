"""Clients: register one (duplicate warning, sealed national id, MRN), change details,
set the care team; each change announced in the same write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from halcyon.clinical.domain.clients import (
    CareTeamUpdate,
    ClientRegistration,
    ClientUpdate,
    client_registered,
    details_changed,
    duplicate_warning,
    ensure_distinct_members,
    fold,
    format_mrn,
    identifier_fingerprint,
    name_key,
)
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import ClientRepository, SiteDirectory
from halcyon.clinical.usecases.chart import REGISTRARS, Chart
from halcyon.shared.access import RecordAccess
from halcyon.shared.crypto import mask
from halcyon.shared.errors import Conflict
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.references import resolve_site
from uuid6 import uuid7

RESOURCE = "clinical/client"
CARE_TEAM = "clinical/care-team"


async def register_client(
    runtime: ClinicalRuntime, access: RecordAccess, body: ClientRegistration
) -> Document:
    """A new client at a site where the caller registers clients; audited."""
    await access.require(REGISTRARS, body.home_site_id, action="create", resource=RESOURCE)
    tenant_id = access.tenant_id
    clients = runtime.repo(ClientRepository)
    key = name_key(body.given_name, body.family_name)
    national = body.national_identifier.normalised() if body.national_identifier else None
    secret = runtime.settings.field_encryption_key
    fingerprint = identifier_fingerprint(secret, tenant_id, national) if national else None
    duplicates = await clients.likely_duplicates(
        tenant_id, key, body.date_of_birth.isoformat(), fingerprint
    )
    client_id = str(uuid7())
    document: dict[str, Any] = {
        "_id": client_id,
        **body.model_dump(mode="json", exclude={"national_identifier"}),
        "name_key": key,
        "family_key": fold(body.family_name),
        "registered_at": datetime.now(UTC),
        "registered_by": access.caller.user_id,
        "possible_duplicate_of": [d["_id"] for d in duplicates],
        "duplicate_warning": duplicate_warning(len(duplicates)),
        "care_team": [],
    }
    if body.national_identifier is not None and national is not None:
        document["national_identifier"] = {
            "kind": body.national_identifier.kind,
            "country": body.national_identifier.country,
            # Encrypted with the agency's own key; only the mask is ever shown.
            "ciphertext": runtime.parts.cipher.encrypt(tenant_id, national),
            "masked": mask(national),
            "fingerprint": fingerprint,
        }
    # The MRN is taken last, after every check, so a refused request leaves no gap.
    sites = runtime.repo(SiteDirectory)
    home_site = await resolve_site(sites, access.caller, body.home_site_id, field="home_site_id")
    document["mrn"] = format_mrn(await clients.next_mrn_sequence(tenant_id))
    timezone = home_site.get("timezone") if home_site else None
    registered = client_registered(client_id, body, timezone)
    saved = await clients.insert(
        tenant_id, document, [runtime.event(registered, tenant_id=tenant_id)]
    )
    await access.audit.record(
        access.caller,
        action="create",
        resource=RESOURCE,
        resource_id=client_id,
        client_id=client_id,
        site_id=body.home_site_id,
        request=access.request,
    )
    return saved


async def _changed(
    runtime: ClinicalRuntime,
    chart: Chart,
    update: dict[str, Any],
    events: list[OutboxEvent],
) -> Document:
    updated = await runtime.repo(ClientRepository).update(
        chart.tenant_id, {"_id": chart.client_id}, update, events
    )
    if updated is None:  # clients are never deleted; only a concurrent erasure could do it
        raise Conflict(f"client {chart.client_id} changed meanwhile; reload and retry")
    return updated


async def update_client(runtime: ClinicalRuntime, chart: Chart, body: ClientUpdate) -> Document:
    """Change only the fields sent; moving a client needs the role at both sites."""
    changes = body.changes()
    if body.home_site_id:
        await chart.access.require(
            REGISTRARS,
            body.home_site_id,
            action="update",
            resource=RESOURCE,
            resource_id=chart.client_id,
            client_id=chart.client_id,
        )
        sites = runtime.repo(SiteDirectory)
        await resolve_site(sites, chart.caller, body.home_site_id, field="home_site_id")
    merged = {**chart.client, **changes}
    changes["name_key"] = name_key(merged["given_name"], merged["family_name"])
    changes["family_key"] = fold(merged["family_name"])
    changed_at = datetime.now(UTC)
    changes["updated_at"] = changed_at
    changed = details_changed(chart.client_id, merged, changed_at)
    event = runtime.event(changed, tenant_id=chart.tenant_id)
    updated = await _changed(runtime, chart, {"$set": changes}, [event])
    await chart.record("update", RESOURCE, chart.client_id)
    return updated


async def set_care_team(runtime: ClinicalRuntime, chart: Chart, body: CareTeamUpdate) -> Document:
    members = body.model_dump(mode="json")["members"]
    ensure_distinct_members(members)
    updated = await _changed(runtime, chart, {"$set": {"care_team": members}}, [])
    await chart.record("update", CARE_TEAM, chart.client_id)
    return updated
