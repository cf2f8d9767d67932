"""Encounter notes: drafts, signature (locked + hashed), co-signature, addenda."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.forms import BUILTIN_FORMS, FormDefinition, validate_answers
from halcyon.clinical.domain.notes import (
    AddendumDraft,
    NoteDraft,
    SignRequest,
    billing_minutes,
    compliance_flags,
    content_hash,
    doses_for_note,
    ensure_author,
    ensure_cosigner,
    ensure_editable,
    ensure_signable,
    part2_protected,
    service_codes,
    service_date,
    status_after_signing,
    verify,
)
from halcyon.clinical.domain.protocols import protocol
from halcyon.clinical.domain.vitals import monitoring_form_due, session_gaps
from halcyon.clinical.store import (
    ConsentRepository,
    DispensedDoses,
    EpisodeRepository,
    FormRepository,
    NoteRepository,
    ScreeningRepository,
    SiteDirectory,
    StaffDirectory,
    VitalsRepository,
)
from halcyon.clinical.usecases.chart import (
    CHART_READERS,
    CHART_WRITERS,
    Chart,
    Clients,
    event,
    open_chart,
)
from halcyon.clinical.usecases.gating import check_dosing_signature
from halcyon.shared.contracts.clinical import EncounterClinician, EncounterSigned
from halcyon.shared.contracts.partner import AdverseEventCounts, RegistrySessionReported
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.partners import pseudonym
from halcyon.shared.service import Audit, Runtime, repository
from pydantic import BaseModel
from uuid6 import uuid7

# The clinical record / controlled-substance record: second factor for anyone (ADR 0103).
router = APIRouter(tags=["encounters and notes"], dependencies=[SecondFactor])
Notes = Annotated[NoteRepository, repository(NoteRepository)]
Forms = Annotated[FormRepository, repository(FormRepository)]
Staff = Annotated[StaffDirectory, repository(StaffDirectory)]
Doses = Annotated[DispensedDoses, repository(DispensedDoses)]
Vitals = Annotated[VitalsRepository, repository(VitalsRepository)]
Consents = Annotated[ConsentRepository, repository(ConsentRepository)]
Screenings = Annotated[ScreeningRepository, repository(ScreeningRepository)]
Sites = Annotated[SiteDirectory, repository(SiteDirectory)]
Episodes = Annotated[EpisodeRepository, repository(EpisodeRepository)]


class Note(BaseModel):
    id: str
    client_id: str
    site_id: str
    kind: str
    status: str
    author_id: str
    template_id: str | None = None
    template_version: int | None = None
    appointment_id: str | None = None
    episode_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    place_of_service: str | None = None
    telehealth: bool | None = None
    audio_only: bool = False
    with_patient_present: bool | None = None
    clinicians: list[dict[str, Any]] = []
    diagnoses: list[str] = []
    psychotherapy_minutes: int | None = None
    content: dict[str, Any] = {}
    dosing: dict[str, Any] | None = None
    part2: bool = False
    signed_by: str | None = None
    signed_at: datetime | None = None
    content_hash: str | None = None
    supervisor_id: str | None = None
    cosigned_by: str | None = None
    cosigned_at: datetime | None = None
    # Addenda
    addendum_of: str | None = None
    text: str | None = None
    reason: str | None = None
    billing_correction: dict[str, Any] | None = None
    revision: int | None = None
    compliance_flags: list[str] = []
    # Joined when read
    addenda: list[str] = []
    dispensed_doses: list[dict[str, Any]] = []
    rems_monitoring_form_due: datetime | None = None


class Verification(BaseModel):
    note_id: str
    status: str
    content_hash: str | None
    recomputed_hash: str
    valid: bool


def _note(doc: Document, **joined: Any) -> Note:
    fields = {k: v for k, v in doc.items() if k in Note.model_fields and k != "id"}
    return Note(id=doc["_id"], **{**fields, **joined})


async def _form_for(forms: FormRepository, tenant_id: str, draft: NoteDraft) -> FormDefinition:
    if draft.template_id in BUILTIN_FORMS:
        return BUILTIN_FORMS[draft.template_id]
    doc = await forms.find_one(
        tenant_id, {"key": draft.template_id, "version": draft.template_version}
    )
    if doc is None:
        raise RuleViolation(f"no template {draft.template_id} version {draft.template_version}")
    form = FormDefinition.model_validate(doc["definition"])
    if form.kind != "note_template" or form.note_kind != draft.kind:
        raise RuleViolation(f"{draft.template_id} is not a template for {draft.kind} notes")
    return form


async def _check_draft(draft: NoteDraft, caller: CurrentCaller, forms: FormRepository) -> None:
    caller.require(CHART_WRITERS, draft.site_id)
    if caller.user_id not in {c.staff_id for c in draft.clinicians}:
        raise RuleViolation("the author is listed among the encounter's clinicians")
    if draft.dosing is not None:
        protocol(draft.dosing.protocol_id)
        if draft.dosing.administered_at < draft.started_at:
            raise RuleViolation("the dose was given before the session started")
    validate_answers(await _form_for(forms, caller.tenant_id, draft), draft.content)


async def _load(notes: NoteRepository, tenant_id: str, note_id: str) -> Document:
    doc = await notes.get(tenant_id, note_id)
    if doc is None:
        raise NotFound(f"no note {note_id} in your agency")
    return doc


async def _open(
    note_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: NoteRepository,
    audit: Audit,
    request: Request,
    roles: frozenset[str],
    action: str,
) -> tuple[Chart, Document]:
    doc = await _load(notes, caller.tenant_id, note_id)
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        doc["client_id"],
        roles,
        action=action,
        resource="clinical/note",
        resource_id=note_id,
    )
    return chart, doc


@router.post(
    "/clients/{client_id}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=Note,
    summary="Start an encounter note (draft)",
)
async def write_note(
    client_id: str,
    body: NoteDraft,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    forms: Forms,
    audit: Audit,
    request: Request,
) -> Note:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_WRITERS,
        action="create",
        resource="clinical/note",
    )
    await _check_draft(body, caller, forms)
    doc = await notes.insert(
        caller.tenant_id,
        {
            "_id": str(uuid7()),
            "client_id": client_id,
            **body.model_dump(),
            "status": "draft",
            "draft_version": 1,
            "author_id": caller.user_id,
            "created_at": utcnow(),
        },
    )
    await chart.record("create", "clinical/note", doc["_id"])
    return _note(doc)


@router.put("/notes/{note_id}", response_model=Note, summary="Replace a draft note")
async def edit_note(
    note_id: str,
    body: NoteDraft,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    forms: Forms,
    audit: Audit,
    request: Request,
) -> Note:
    chart, doc = await _open(
        note_id, caller, clients, notes, audit, request, CHART_WRITERS, "update"
    )
    try:
        ensure_editable(doc)
    except Conflict as exc:
        await chart.denied("update", "clinical/note", note_id, exc.detail)
        raise
    ensure_author(doc, caller.user_id)
    await _check_draft(body, caller, forms)
    updated = await notes.update(
        caller.tenant_id,
        {"_id": note_id},
        # Every edit bumps the version, so a signature racing it cannot hash stale content.
        {"$set": {**body.model_dump(), "updated_at": utcnow()}, "$inc": {"draft_version": 1}},
    )
    if updated is None:  # signed between our read and this write
        raise Conflict("this note was signed meanwhile; write an addendum instead")
    await chart.record("update", "clinical/note", note_id)
    return _note(updated)


@router.delete(
    "/notes/{note_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Discard a draft note"
)
async def discard_note(
    note_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    audit: Audit,
    request: Request,
) -> Response:
    chart, doc = await _open(
        note_id, caller, clients, notes, audit, request, CHART_WRITERS, "delete"
    )
    try:
        ensure_editable(doc)
    except Conflict as exc:
        await chart.denied("delete", "clinical/note", note_id, exc.detail)
        raise
    ensure_author(doc, caller.user_id)
    if await notes.delete(caller.tenant_id, {"_id": note_id}) == 0:
        raise Conflict("this note was signed meanwhile and can no longer be discarded")
    await chart.record("delete", "clinical/note", note_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _billable(note: Document, corrections: list[dict[str, Any]]) -> dict[str, Any]:
    """The note's billable facts with every billing correction applied in order."""
    facts = {
        k: note.get(k)
        for k in (
            "started_at",
            "ended_at",
            "psychotherapy_minutes",
            "clinicians",
            "diagnoses",
            "place_of_service",
        )
    }
    for correction in corrections:
        facts.update({k: v for k, v in correction.items() if v is not None})
    return facts


async def _encounter_signed(
    note: Document,
    staff: StaffDirectory,
    episodes: EpisodeRepository,
    tenant_id: str,
    *,
    revision: int,
    corrections: list[dict[str, Any]],
    signed_at: datetime,
    site_timezone: str | None,
    addendum_id: str | None = None,
) -> EncounterSigned:
    facts = _billable(note, corrections)
    # 42 CFR Part 2: the episode's program decides as much as the note's own flag.
    episode = await episodes.get(tenant_id, note["episode_id"]) if note.get("episode_id") else None
    ids = [c["staff_id"] for c in facts["clinicians"]]
    known = {s["_id"]: s for s in await staff.find(tenant_id, {"_id": {"$in": ids}})}
    clinicians = [
        EncounterClinician(
            staff_id=c["staff_id"],
            role=c["role"],
            npi=known.get(c["staff_id"], {}).get("npi"),
            monitoring_role=c.get("monitoring_role"),
            minutes=c.get("minutes"),
        )
        for c in facts["clinicians"]
    ]
    # Monitoring roles first (billing prices first/second/staff), then the rest.
    order = {"first": 0, "second": 1, "staff": 2}
    clinicians.sort(key=lambda c: order.get(c.monitoring_role or "", 3))
    monitoring = [c.minutes for c in clinicians if c.monitoring_role and c.minutes]
    monitoring_minutes = max(monitoring) if monitoring else None
    if monitoring_minutes is None and note.get("dosing"):
        monitoring_minutes = billing_minutes(note["dosing"]["administered_at"], facts["ended_at"])
    minutes = facts.get("psychotherapy_minutes") or billing_minutes(
        facts["started_at"], facts["ended_at"]
    )
    codes = service_codes(
        note["kind"],
        minutes=minutes,
        with_patient_present=note.get("with_patient_present", True),
        monitoring_roles=[c.monitoring_role for c in clinicians if c.monitoring_role],
        psychotherapy_minutes=facts.get("psychotherapy_minutes"),
        telehealth=note.get("telehealth", False),
    )
    return EncounterSigned(
        encounter_id=note["_id"],
        client_id=note["client_id"],
        site_id=note["site_id"],
        appointment_id=note.get("appointment_id"),
        kind=note["kind"],
        service_date=service_date(facts["started_at"], site_timezone),
        started_at=facts["started_at"],
        ended_at=facts["ended_at"],
        psychotherapy_minutes=facts.get("psychotherapy_minutes"),
        monitoring_minutes=monitoring_minutes,
        with_patient_present=note.get("with_patient_present", True),
        clinicians=clinicians,
        diagnoses=facts["diagnoses"],
        place_of_service=facts["place_of_service"],
        telehealth=note.get("telehealth", False),
        audio_only=note.get("audio_only", False),
        part2=part2_protected(
            note_part2=bool(note.get("part2")),
            program_part2=bool(episode and episode.get("part2")),
            diagnoses=facts["diagnoses"],
        ),
        revision=revision,
        signed_at=signed_at,
        service_codes=codes,
        addendum_id=addendum_id,
    )


async def _site_timezone(sites: SiteDirectory, tenant_id: str, site_id: str) -> str | None:
    site = await sites.get(tenant_id, site_id)
    return site.get("timezone") if site else None


def _now_ms() -> datetime:
    # Mongo keeps milliseconds; sign with what will be stored so the hash verifies.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def _registry_session(
    note: Document,
    notes: NoteRepository,
    vitals: VitalsRepository,
    tenant_id: str,
    *,
    secret: str,
    site_timezone: str | None,
) -> list[OutboxEvent]:
    """The research registries' report of a signed dosing session (ADR 0007), or nothing.

    Minimum necessary: counts and the day, never the note's text, names, ids or times.
    The participant is the same pseudonym inventory puts on the dose reports.
    """
    dosing = note.get("dosing")
    if note.get("kind") != "dosing" or not dosing:
        return []
    readings = await vitals.find(tenant_id, {"encounter_id": note["_id"]})
    earlier = await notes.find(
        tenant_id,
        {
            "client_id": note["client_id"],
            "kind": "dosing",
            "dosing.protocol_id": dosing["protocol_id"],
            "started_at": {"$lt": note["started_at"]},
        },
    )
    severities = [a["severity"] for a in dosing.get("adverse_events", [])]
    report = RegistrySessionReported(
        # A keyed hash of the note id: stable for redeliveries, and it reveals neither
        # the note id nor (as a UUIDv7 would) when the note was created.
        report_id=pseudonym(secret, tenant_id, "registry", f"session:{note['_id']}"),
        participant=pseudonym(secret, tenant_id, "registry", note["client_id"]),
        protocol_id=dosing["protocol_id"],
        session_on=service_date(note["started_at"], site_timezone),
        session_number=len(earlier) + 1,
        duration_minutes=billing_minutes(note["started_at"], note["ended_at"]),
        adverse_events=AdverseEventCounts(
            mild=severities.count("mild"),
            moderate=severities.count("moderate"),
            severe=severities.count("severe"),
            life_threatening=severities.count("life_threatening"),
        ),
        vitals_alerts=sum(1 for r in readings if r.get("alert_id")),
        supplemental_dose_given=dosing.get("supplemental_dose") is not None,
    )
    return [event(report, tenant_id)]


@router.post("/notes/{note_id}/sign", response_model=Note, summary="Sign and lock a note")
async def sign_note(
    note_id: str,
    body: SignRequest,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    staff: Staff,
    sites: Sites,
    episodes: Episodes,
    vitals: Vitals,
    consents: Consents,
    screenings: Screenings,
    audit: Audit,
    request: Request,
    runtime: Runtime,
) -> Note:
    chart, doc = await _open(note_id, caller, clients, notes, audit, request, CHART_WRITERS, "sign")
    try:
        ensure_editable(doc)
    except Conflict as exc:
        await chart.denied("sign", "clinical/note", note_id, exc.detail)
        raise
    ensure_author(doc, caller.user_id)
    if doc.get("addendum_of"):
        raise Conflict("addenda are signed when written")
    ensure_signable(doc)
    author = await staff.get(caller.tenant_id, caller.user_id)
    supervisor_id = body.supervisor_id or (author or {}).get("supervisor_id")
    if supervisor_id == caller.user_id:
        raise RuleViolation("a clinician cannot supervise their own note")
    if doc.get("dosing"):
        chosen = protocol(doc["dosing"]["protocol_id"])
        readings = await vitals.find(caller.tenant_id, {"encounter_id": note_id})
        gaps = session_gaps(chosen, readings, doc["dosing"]["administered_at"], doc["ended_at"])
        if gaps:
            raise RuleViolation(
                f"the session does not meet the {chosen.name} monitoring rules", gaps=gaps
            )
    signed_at = _now_ms()
    client_consents = await consents.find(caller.tenant_id, {"client_id": doc["client_id"]})
    client_screenings = await screenings.find(caller.tenant_id, {"client_id": doc["client_id"]})
    acknowledged = await check_dosing_signature(
        chart, doc, client_consents, client_screenings, body.acknowledged_conditions, signed_at
    )
    flags = compliance_flags(doc, client_consents, client_screenings, signed_at)
    signed = {**doc, "signed_by": caller.user_id, "signed_at": signed_at}
    new_status = status_after_signing(supervisor_id)
    events = []
    if new_status == "signed":
        site_timezone = await _site_timezone(sites, caller.tenant_id, doc["site_id"])
        encounter = await _encounter_signed(
            doc,
            staff,
            episodes,
            caller.tenant_id,
            revision=1,
            corrections=[],
            signed_at=signed_at,
            site_timezone=site_timezone,
        )
        events.append(event(encounter, caller.tenant_id))
        # Same write as the signature: the registry report exists iff the note is signed.
        events += await _registry_session(
            doc,
            notes,
            vitals,
            caller.tenant_id,
            secret=runtime.settings.field_encryption_key,
            site_timezone=site_timezone,
        )
    updated = await notes.transition(
        caller.tenant_id,
        note_id,
        from_status="draft",
        changes={
            "status": new_status,
            "signed_by": caller.user_id,
            "signed_at": signed_at,
            "content_hash": content_hash(signed),
            "supervisor_id": supervisor_id,
            "compliance_flags": flags,
            "acknowledged_conditions": acknowledged,
        },
        events=events,
        draft_version=doc.get("draft_version"),
    )
    if updated is None:
        raise Conflict("this note was signed or edited meanwhile; reload it and sign again")
    # Signing over failed protocol conditions is an override: the trail names each.
    overridden = ", ".join(a["code"] for a in acknowledged)
    await chart.record(
        "sign",
        "clinical/note",
        note_id,
        reason=f"acknowledged protocol conditions: {overridden}" if overridden else None,
    )
    return _note(updated)


@router.post(
    "/notes/{note_id}/cosign",
    response_model=Note,
    summary="Co-sign a supervised clinician's note (the supervisor only)",
)
async def cosign_note(
    note_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    staff: Staff,
    sites: Sites,
    episodes: Episodes,
    vitals: Vitals,
    audit: Audit,
    request: Request,
    runtime: Runtime,
) -> Note:
    chart, doc = await _open(note_id, caller, clients, notes, audit, request, CHART_WRITERS, "sign")
    try:
        ensure_cosigner(doc, caller.user_id)
    except (Conflict, RuleViolation) as exc:
        await chart.denied("sign", "clinical/note", note_id, exc.detail)
        raise
    if not verify(doc):
        raise Conflict("the note no longer matches its signature hash; it cannot be co-signed")
    cosigned_at = _now_ms()
    site_timezone = await _site_timezone(sites, caller.tenant_id, doc["site_id"])
    encounter = await _encounter_signed(
        doc,
        staff,
        episodes,
        caller.tenant_id,
        revision=1,
        corrections=[],
        signed_at=cosigned_at,
        site_timezone=site_timezone,
    )
    # A supervised dosing note reaches registries when it is co-signed, like billing.
    registry = await _registry_session(
        doc,
        notes,
        vitals,
        caller.tenant_id,
        secret=runtime.settings.field_encryption_key,
        site_timezone=site_timezone,
    )
    updated = await notes.transition(
        caller.tenant_id,
        note_id,
        from_status="awaiting_cosign",
        changes={"status": "signed", "cosigned_by": caller.user_id, "cosigned_at": cosigned_at},
        events=[event(encounter, caller.tenant_id), *registry],
    )
    if updated is None:
        raise Conflict("this note was co-signed meanwhile")
    await chart.record("sign", "clinical/note", note_id)
    return _note(updated)


@router.post(
    "/notes/{note_id}/addenda",
    status_code=status.HTTP_201_CREATED,
    response_model=Note,
    summary="Add a signed addendum to a signed note (the only way to correct one)",
)
async def add_addendum(
    note_id: str,
    body: AddendumDraft,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    staff: Staff,
    sites: Sites,
    episodes: Episodes,
    audit: Audit,
    request: Request,
) -> Note:
    chart, doc = await _open(
        note_id, caller, clients, notes, audit, request, CHART_WRITERS, "create"
    )
    if doc.get("addendum_of"):
        raise RuleViolation("addenda attach to the original note, not to another addendum")
    if doc["status"] != "signed":
        raise Conflict("only a signed note takes addenda; edit the draft instead")
    correction = body.billing_correction.model_dump() if body.billing_correction else None
    signed_at = _now_ms()
    addendum: Document = {
        "_id": str(uuid7()),
        "client_id": doc["client_id"],
        "site_id": doc["site_id"],
        "kind": "addendum",
        "addendum_of": note_id,
        "text": body.text,
        "reason": body.reason,
        "billing_correction": correction,
        "part2": doc.get("part2", False),
        "author_id": caller.user_id,
        "status": "signed",
        "signed_by": caller.user_id,
        "signed_at": signed_at,
        "created_at": signed_at,
    }
    addendum["content_hash"] = content_hash(addendum)
    events = []
    if correction is not None:
        facts = _billable(doc, [correction])
        if facts["ended_at"] < facts["started_at"]:
            raise RuleViolation("the corrected end is before the corrected start")
        earlier = await notes.find(
            caller.tenant_id,
            {"addendum_of": note_id, "billing_correction": {"$ne": None}},
        )
        revision = await notes.next_revision(caller.tenant_id, note_id)
        addendum["revision"] = revision
        encounter = await _encounter_signed(
            doc,
            staff,
            episodes,
            caller.tenant_id,
            revision=revision,
            corrections=[e["billing_correction"] for e in earlier] + [correction],
            signed_at=signed_at,
            site_timezone=await _site_timezone(sites, caller.tenant_id, doc["site_id"]),
            addendum_id=addendum["_id"],
        )
        events.append(event(encounter, caller.tenant_id))
        addendum["content_hash"] = content_hash(addendum)
    saved = await notes.insert(caller.tenant_id, addendum, events)
    await chart.record("create", "clinical/note", saved["_id"])
    return _note(saved)


@router.get("/notes/{note_id}", response_model=Note, summary="Read a note with its addenda")
async def read_note(
    note_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    doses: Doses,
    audit: Audit,
    request: Request,
) -> Note:
    chart, doc = await _open(note_id, caller, clients, notes, audit, request, CHART_READERS, "read")
    addenda = await notes.find(caller.tenant_id, {"addendum_of": note_id})
    joined: dict[str, Any] = {"addenda": [a["_id"] for a in addenda]}
    if doc.get("kind") == "dosing":
        found = await doses.find(caller.tenant_id, {"client_id": doc["client_id"]})
        joined["dispensed_doses"] = [
            {k: v for k, v in d.items() if k not in {"tenant_id"}}
            for d in doses_for_note(doc, found)
        ]
        joined["rems_monitoring_form_due"] = monitoring_form_due(
            protocol(doc["dosing"]["protocol_id"]), doc["ended_at"]
        )
    await chart.record("read", "clinical/note", note_id)
    return _note(doc, **joined)


@router.get(
    "/notes/{note_id}/verification",
    response_model=Verification,
    summary="Recompute a signed note's SHA-256 and compare it with the stored one",
)
async def verify_note(
    note_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    audit: Audit,
    request: Request,
) -> Verification:
    chart, doc = await _open(note_id, caller, clients, notes, audit, request, CHART_READERS, "read")
    await chart.record("read", "clinical/note", note_id)
    return Verification(
        note_id=note_id,
        status=doc["status"],
        content_hash=doc.get("content_hash"),
        recomputed_hash=content_hash(doc),
        valid=verify(doc),
    )


@router.get(
    "/clients/{client_id}/notes",
    response_model=PageOut[Note],
    summary="A client's notes and addenda, oldest first",
)
async def list_notes(
    client_id: str,
    caller: CurrentCaller,
    clients: Clients,
    notes: Notes,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[Note]:
    chart = await open_chart(
        clients,
        caller,
        audit,
        request,
        client_id,
        CHART_READERS,
        action="read",
        resource="clinical/note",
    )
    result = await notes.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await chart.record("read", "clinical/note")
    return PageOut(items=[_note(d) for d in result.items], next_cursor=result.next_cursor)
