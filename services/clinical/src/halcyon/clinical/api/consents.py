"""Consents (informed, telehealth, release of information, 42 CFR Part 2) and disclosures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.consents import (
    PART2_ABBREVIATED_NOTICE,
    ConsentForm,
    DisclosureRequest,
    Part2ConsentRefused,
    authorise_disclosure,
    consent_changed,
    consent_status,
    ensure_revocable,
)
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.store import (
    ConsentRepository,
    DisclosureRepository,
    EpisodeRepository,
    NoteRepository,
)
from halcyon.clinical.usecases.chart import (
    CHART_READERS,
    CONSENT_TAKERS,
    DISCLOSERS,
    Clients,
    event,
    open_chart,
)
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document
from halcyon.shared.service import Audit, repository
from pydantic import BaseModel
from uuid6 import uuid7

router = APIRouter(tags=["consents and disclosures"])
Consents = Annotated[ConsentRepository, repository(ConsentRepository)]
Disclosures = Annotated[DisclosureRepository, repository(DisclosureRepository)]
Notes = Annotated[NoteRepository, repository(NoteRepository)]
Episodes = Annotated[EpisodeRepository, repository(EpisodeRepository)]


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


class DisclosedRecord(BaseModel):
    type: str
    id: str
    part2: bool
    content: dict[str, Any]


class Disclosure(BaseModel):
    id: str
    client_id: str
    recipient: str
    purpose: str
    consent_id: str | None
    disclosed_at: datetime
    disclosed_by: str
    records: list[DisclosedRecord]
    # 42 CFR 2.32: present whenever a Part 2 record is disclosed.
    redisclosure_notice: str | None = None
    abbreviated_notice: str | None = None
    # 42 CFR 2.32(b) (2024 rule): a copy of the consent, or a clear explanation of its scope.
    consent_copy: dict[str, Any] | None = None


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
    client_id: str,
    body: ConsentForm,
    caller: CurrentCaller,
    clients: Clients,
    consents: Consents,
    audit: Audit,
    request: Request,
) -> Consent:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CONSENT_TAKERS,
        action="create",
        resource="clinical/consent",
    )
    if body.protocol_id:
        protocol(body.protocol_id)  # 404 for an unknown protocol, before writing
    # A few minutes of clock skew between the signing tablet and us are tolerated.
    latest = utcnow() + timedelta(minutes=5)
    if body.signed_at > latest:
        raise RuleViolation("the consent's signature date is in the future")
    if body.effective_at > latest:
        # Consumers (scheduling's gating) act on the status announced now; a consent
        # that only starts later would need a second announcement we do not make.
        raise RuleViolation("record the consent when it takes effect, not before")
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": client_id,
        **body.model_dump(),
        "recorded_by": caller.user_id,
        "recorded_at": utcnow(),
        "revoked_at": None,
    }
    status_now = consent_status(doc, utcnow())
    saved = await consents.insert(
        caller.tenant_id, doc, [event(consent_changed(doc, status_now), caller.tenant_id)]
    )
    await chart.record("create", "clinical/consent", saved["_id"])
    return _consent(saved)


@router.get(
    "/clients/{client_id}/consents",
    response_model=PageOut[Consent],
    summary="A client's consents with their current status",
)
async def list_consents(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    consents: Consents,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Consent]:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_READERS | CONSENT_TAKERS,
        action="read",
        resource="clinical/consent",
    )
    result = await consents.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", "clinical/consent")
    return PageOut(items=[_consent(d) for d in result.items], next_cursor=result.next_cursor)


@router.post(
    "/consents/{consent_id}/revoke",
    response_model=Consent,
    summary="Revoke a consent (42 CFR 2.31(a)(5): the client may revoke at any time)",
)
async def revoke_consent(
    consent_id: str,
    body: Revocation,
    caller: CurrentCaller,
    clients: Clients,
    consents: Consents,
    audit: Audit,
    request: Request,
) -> Consent:
    doc = await consents.get(caller.tenant_id, consent_id)
    if doc is None:
        raise NotFound(f"no consent {consent_id} in your agency")
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        doc["client_id"],
        CONSENT_TAKERS | DISCLOSERS,
        action="update",
        resource="clinical/consent",
        resource_id=consent_id,
    )
    now = utcnow()
    ensure_revocable(doc, now)
    revoked = {**doc, "revoked_at": now}
    updated = await consents.update(
        caller.tenant_id,
        {"_id": consent_id, "revoked_at": None},
        {
            "$set": {
                "revoked_at": now,
                "revocation_reason": body.reason,
                "revoked_recorded_by": caller.user_id,
            }
        },
        [event(consent_changed(revoked, "revoked"), caller.tenant_id)],
    )
    if updated is None:
        raise Conflict("this consent was revoked meanwhile")
    await chart.record("update", "clinical/consent", consent_id)
    return _consent(updated)


def _note_content(doc: Document) -> dict[str, Any]:
    keep = ("kind", "started_at", "ended_at", "diagnoses", "content", "dosing", "status")
    return {k: doc.get(k) for k in keep}


@router.post(
    "/clients/{client_id}/disclosures",
    status_code=status.HTTP_201_CREATED,
    response_model=Disclosure,
    summary="Disclose chart records to an outside recipient (42 CFR Part 2 enforced)",
    responses={403: {"description": "Part 2 records without a valid Part 2 consent"}},
)
async def disclose(
    client_id: str,
    body: DisclosureRequest,
    caller: CurrentCaller,
    clients: Clients,
    consents: Consents,
    disclosures: Disclosures,
    notes: Notes,
    episodes: Episodes,
    audit: Audit,
    request: Request,
) -> Disclosure:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        DISCLOSERS,
        action="disclose",
        resource="clinical/disclosure",
    )
    records: list[DisclosedRecord] = []
    if "notes" in body.record_types:
        # Only signed notes leave the program; drafts are not part of the record yet.
        for doc in await notes.find(caller.tenant_id, {"client_id": client_id, "status": "signed"}):
            records.append(
                DisclosedRecord(
                    type="note",
                    id=doc["_id"],
                    part2=bool(doc.get("part2")),
                    content=_note_content(doc),
                )
            )
    if "diagnoses" in body.record_types:
        for doc in await episodes.find(caller.tenant_id, {"client_id": client_id}):
            records.append(
                DisclosedRecord(
                    type="episode",
                    id=doc["_id"],
                    part2=bool(doc.get("part2")),
                    content={"program": doc["program"], "diagnoses": doc["diagnoses"]},
                )
            )
    consent = None
    if body.consent_id:
        consent = await consents.get(caller.tenant_id, body.consent_id)
        if consent is None or consent["client_id"] != client_id:
            raise RuleViolation("that consent is not this client's")
    part2_count = sum(r.part2 for r in records)
    try:
        notice = authorise_disclosure(
            part2_records=part2_count, request=body, consent=consent, now=utcnow()
        )
    except Part2ConsentRefused as exc:
        await chart.denied("disclose", "clinical/disclosure", None, exc.detail)
        raise
    doc = await disclosures.insert(
        caller.tenant_id,
        {
            "_id": str(uuid7()),
            "client_id": client_id,
            "recipient": body.recipient,
            "purpose": body.purpose,
            "purpose_description": body.purpose_description,
            "consent_id": body.consent_id,
            "disclosed_at": utcnow(),
            "disclosed_by": caller.user_id,
            # The accounting keeps what went out, not a copy of it.
            "record_refs": [{"type": r.type, "id": r.id, "part2": r.part2} for r in records],
            "redisclosure_notice": notice,
        },
    )
    await chart.record("disclose", "clinical/disclosure", doc["_id"])
    return Disclosure(
        id=doc["_id"],
        client_id=client_id,
        recipient=body.recipient,
        purpose=body.purpose,
        consent_id=body.consent_id,
        disclosed_at=doc["disclosed_at"],
        disclosed_by=caller.user_id,
        records=records,
        redisclosure_notice=notice,
        abbreviated_notice=PART2_ABBREVIATED_NOTICE if notice else None,
        consent_copy=_consent_copy(consent) if notice and consent else None,
    )


def _consent_copy(consent: Document) -> dict[str, Any]:
    keep = (
        "kind",
        "recipient",
        "purpose",
        "purpose_description",
        "information_description",
        "effective_at",
        "expires_at",
        "expiry_event",
        "signed_by_name",
        "signed_at",
    )
    return {"consent_id": consent["_id"], **{k: consent.get(k) for k in keep}}
