"""Consents (informed, telehealth, release of information, 42 CFR Part 2) and disclosures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.consents import (
    ConsentForm,
    Disclosure,
    DisclosureRequest,
    consent_status,
)
from halcyon.clinical.store import ConsentRepository
from halcyon.clinical.usecases import consents as consenting
from halcyon.clinical.usecases.chart import (
    CHART_READERS,
    CONSENT_TAKERS,
    DISCLOSERS,
)
from halcyon.clinical.usecases.consents import DISCLOSURE, RESOURCE
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import repository
from pydantic import BaseModel

router = APIRouter(tags=["consents and disclosures"])
Consents = Annotated[ConsentRepository, repository(ConsentRepository)]


class Consent(BaseModel):
    id: str
    client_id: str
    kind: str
    protocol_id: str | None = None
    recipient: str | None = None
    purpose: str | None = None
    purpose_description: str | None = None
    information_description: str | None = None
    effective_at: datetime
    expires_at: datetime | None = None
    expiry_event: str | None = None
    signed_by_name: str
    signed_at: datetime
    status: str
    revoked_at: datetime | None = None
    revocation_reason: str | None = None


class Revocation(BaseModel):
    reason: str | None = None
    model_config = {"extra": "forbid"}


def _consent(doc: Document) -> Consent:
    fields = {k: v for k, v in doc.items() if k in Consent.model_fields}
    fields["status"] = consent_status(doc, utcnow())
    return Consent(id=doc["_id"], **fields)


@router.post(
    "/clients/{client_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=Consent,
    summary="Record a signed consent",
)
async def record_consent(
    client_id: str, body: ConsentForm, charts: ChartDoor, runtime: Runtime
) -> Consent:
    chart = await charts.open(client_id, CONSENT_TAKERS, action="create", resource=RESOURCE)
    return _consent(await consenting.record_consent(runtime, chart, body))


@router.get(
    "/clients/{client_id}/consents",
    response_model=PageOut[Consent],
    summary="A client's consents with their current status",
)
async def list_consents(
    client_id: str,
    caller: CurrentCaller,
    charts: ChartDoor,
    consents: Consents,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Consent]:
    chart = await charts.open(
        client_id, CHART_READERS | CONSENT_TAKERS, action="read", resource=RESOURCE
    )
    result = await consents.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", RESOURCE)
    return PageOut(items=[_consent(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/consents/{consent_id}/revoke",
    response_model=Consent,
    summary="Revoke a consent (42 CFR 2.31(a)(5): the client may revoke at any time)",
)
async def revoke_consent(
    consent_id: str, body: Revocation, charts: ChartDoor, runtime: Runtime
) -> Consent:
    return _consent(await consenting.revoke_consent(runtime, charts, consent_id, body.reason))


@router.post(
    "/clients/{client_id}/disclosures",
    status_code=status.HTTP_201_CREATED,
    response_model=Disclosure,
    summary="Disclose chart records to an outside recipient (42 CFR Part 2 enforced)",
    responses={403: {"description": "Part 2 records without a valid Part 2 consent"}},
)
async def disclose(
    client_id: str, body: DisclosureRequest, charts: ChartDoor, runtime: Runtime
) -> Disclosure:
    chart = await charts.open(client_id, DISCLOSERS, action="disclose", resource=DISCLOSURE)
    return await consenting.disclose(runtime, chart, body)
