"""Consents and disclosures: record, revoke (announced), and disclose under 42 CFR Part 2."""

from __future__ import annotations

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.consents import (
    PART2_ABBREVIATED_NOTICE,
    ConsentForm,
    DisclosedRecord,
    Disclosure,
    DisclosureRequest,
    Part2ConsentRefused,
    authorise_disclosure,
    consent_changed,
    consent_copy,
    consent_status,
    disclosed_episode,
    disclosed_note,
    ensure_recordable,
    ensure_revocable,
)
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import (
    ConsentRepository,
    DisclosureRepository,
    EpisodeRepository,
    NoteRepository,
)
from halcyon.clinical.usecases.chart import CONSENT_TAKERS, DISCLOSERS, Chart, Charts
from halcyon.shared.errors import Conflict, RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

RESOURCE = "clinical/consent"
DISCLOSURE = "clinical/disclosure"


async def record_consent(runtime: ClinicalRuntime, chart: Chart, body: ConsentForm) -> Document:
    """Keep a signed consent and announce its status in the same write."""
    if body.protocol_id:
        protocol(body.protocol_id)  # 404 for an unknown protocol, before writing
    ensure_recordable(body, utcnow())
    doc: Document = {
        "_id": str(uuid7()),
        "client_id": chart.client_id,
        **body.model_dump(),
        "recorded_by": chart.caller.user_id,
        "recorded_at": utcnow(),
        "revoked_at": None,
    }
    changed = consent_changed(doc, consent_status(doc, utcnow()))
    events = [runtime.event(changed, tenant_id=chart.tenant_id)]
    saved = await runtime.repo(ConsentRepository).insert(chart.tenant_id, doc, events)
    await chart.record("create", RESOURCE, saved["_id"])
    return saved


async def revoke_consent(
    runtime: ClinicalRuntime, charts: Charts, consent_id: str, reason: str | None
) -> Document:
    """42 CFR 2.31(a)(5): the client may revoke at any time; the revocation is announced."""
    consents = runtime.repo(ConsentRepository)
    tenant_id = charts.caller.tenant_id
    doc = await consents.get(tenant_id, consent_id)
    if doc is None:
        raise await charts.access.missing(
            "consent", consent_id, action="update", resource=RESOURCE, resource_id=consent_id
        )
    chart = await charts.open(
        doc["client_id"],
        CONSENT_TAKERS | DISCLOSERS,
        action="update",
        resource=RESOURCE,
        resource_id=consent_id,
    )
    now = utcnow()
    ensure_revocable(doc, now)
    revoked = {**doc, "revoked_at": now}
    updated = await consents.update(
        tenant_id,
        {"_id": consent_id, "revoked_at": None},
        {
            "$set": {
                "revoked_at": now,
                "revocation_reason": reason,
                "revoked_recorded_by": charts.caller.user_id,
            }
        },
        [runtime.event(consent_changed(revoked, "revoked"), tenant_id=tenant_id)],
    )
    if updated is None:
        raise Conflict("this consent was revoked meanwhile")
    await chart.record("update", RESOURCE, consent_id)
    return updated


async def _records(
    runtime: ClinicalRuntime, chart: Chart, body: DisclosureRequest
) -> list[DisclosedRecord]:
    records: list[DisclosedRecord] = []
    scope = {"client_id": chart.client_id}
    if "notes" in body.record_types:
        # Only signed notes leave the program; drafts are not part of the record yet.
        notes = runtime.repo(NoteRepository)
        records += [
            disclosed_note(d)
            for d in await notes.find(chart.tenant_id, {**scope, "status": "signed"})
        ]
    if "diagnoses" in body.record_types:
        episodes = runtime.repo(EpisodeRepository)
        records += [disclosed_episode(d) for d in await episodes.find(chart.tenant_id, scope)]
    return records


async def disclose(runtime: ClinicalRuntime, chart: Chart, body: DisclosureRequest) -> Disclosure:
    """Disclose chart records to an outside recipient; Part 2 records need a valid Part 2
    consent (refusal audited), and the accounting keeps what went out."""
    records = await _records(runtime, chart, body)
    consent = None
    if body.consent_id:
        consent = await runtime.repo(ConsentRepository).get(chart.tenant_id, body.consent_id)
        if consent is None or consent["client_id"] != chart.client_id:
            raise RuleViolation("that consent is not this client's")
    part2_count = sum(r.part2 for r in records)
    try:
        notice = authorise_disclosure(
            part2_records=part2_count, request=body, consent=consent, now=utcnow()
        )
    except Part2ConsentRefused as exc:
        await chart.denied("disclose", DISCLOSURE, None, exc.detail)
        raise
    doc = await runtime.repo(DisclosureRepository).insert(
        chart.tenant_id,
        {
            "_id": str(uuid7()),
            "client_id": chart.client_id,
            "recipient": body.recipient,
            "purpose": body.purpose,
            "purpose_description": body.purpose_description,
            "consent_id": body.consent_id,
            "disclosed_at": utcnow(),
            "disclosed_by": chart.caller.user_id,
            # The accounting keeps what went out, not a copy of it.
            "record_refs": [{"type": r.type, "id": r.id, "part2": r.part2} for r in records],
            "redisclosure_notice": notice,
        },
    )
    await chart.record("disclose", DISCLOSURE, doc["_id"])
    return Disclosure(
        id=doc["_id"],
        client_id=chart.client_id,
        recipient=body.recipient,
        purpose=body.purpose,
        consent_id=body.consent_id,
        disclosed_at=doc["disclosed_at"],
        disclosed_by=chart.caller.user_id,
        records=records,
        redisclosure_notice=notice,
        abbreviated_notice=PART2_ABBREVIATED_NOTICE if notice else None,
        consent_copy=consent_copy(consent) if notice and consent else None,
    )


async def announce_expired_consents(runtime: ClinicalRuntime) -> int:
    """One pass: mark each newly expired consent and queue its ConsentChanged, atomically."""
    consents = runtime.repo(ConsentRepository)
    announced = 0
    for doc in await consents.expired_unannounced(utcnow()):
        changed = consent_changed({**doc, "revoked_at": None}, "expired")
        # Conditional on "not yet announced": two instances sweeping at once announce once.
        done = await consents.update(
            doc["tenant_id"],
            {"_id": doc["_id"], "revoked_at": None, "expiry_announced": {"$ne": True}},
            {"$set": {"expiry_announced": True}},
            [runtime.event(changed, tenant_id=doc["tenant_id"])],
        )
        announced += done is not None
    return announced
