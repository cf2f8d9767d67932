"""Clinical HTTP API: the client chart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from halcyon.clinical.domain.clients import (
    Client,
    ClientRegistration,
    format_mrn,
    name_key,
)
from halcyon.clinical.store import ClientRepository
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.service import Audit, repository
from uuid6 import uuid7

router = APIRouter(prefix="/clients", tags=["clients"])
Clients = Annotated[ClientRepository, repository(ClientRepository)]

REGISTER_ROLES = {"front_desk", "agency_admin", "therapist", "prescriber", "nurse"}
READ_ROLES = REGISTER_ROLES | {"compliance_officer", "biller"}


def _client(doc: Document) -> Client:
    return Client(
        id=doc["_id"], **{k: v for k, v in doc.items() if k in Client.model_fields and k != "id"}
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Client,
    summary="Register a client (warns about likely duplicates)",
)
async def register_client(
    body: ClientRegistration, caller: CurrentCaller, clients: Clients
) -> Client:
    caller.require(REGISTER_ROLES, body.home_site_id)
    dob = body.date_of_birth.isoformat()
    key = name_key(body.given_name, body.family_name)
    duplicates = await clients.likely_duplicates(caller.tenant_id, key, dob)
    client_id = str(uuid7())
    mrn = format_mrn(await clients.next_mrn_sequence(caller.tenant_id))
    document = {
        "_id": client_id,
        "mrn": mrn,
        **body.model_dump(mode="json"),
        "name_key": key,
        "registered_at": datetime.now(UTC),
        "registered_by": caller.user_id,
        "possible_duplicate_of": [d["_id"] for d in duplicates],
    }
    event = ClientRegistered(
        client_id=client_id,
        home_site_id=body.home_site_id,
        given_name=body.given_name,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        preferred_language=body.preferred_language,
    )
    envelope = EventEnvelope.wrap(event, source="/halcyon/clinical", tenant_id=caller.tenant_id)
    saved = await clients.insert(caller.tenant_id, document, [OutboxEvent(envelope, event.topic)])
    return _client(saved)


@router.get("/{client_id}", response_model=Client, summary="Read one client")
async def read_client(
    client_id: str, caller: CurrentCaller, clients: Clients, audit: Audit, request: Request
) -> Client:
    doc = await clients.get(caller.tenant_id, client_id)
    if doc is None:
        raise NotFound(f"no client {client_id} in your agency")
    try:
        caller.require(READ_ROLES, doc["home_site_id"])
    except Exception:
        await audit.record(
            caller,
            action="read",
            resource="clinical/client",
            resource_id=client_id,
            client_id=client_id,
            site_id=doc["home_site_id"],
            outcome="denied",
            request=request,
        )
        raise
    await audit.record(
        caller,
        action="read",
        resource="clinical/client",
        resource_id=client_id,
        client_id=client_id,
        site_id=doc["home_site_id"],
        request=request,
    )
    return _client(doc)


@router.get("", response_model=PageOut[Client], summary="List clients, newest last")
async def list_clients(
    caller: CurrentCaller, clients: Clients, page: Annotated[PageParams, Depends(page_params)]
) -> PageOut[Client]:
    caller.require(READ_ROLES)
    result = await clients.page(caller.tenant_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[_client(d) for d in result.items], next_cursor=result.next_cursor)
