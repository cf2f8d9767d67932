"""Encounter notes: open a note's chart, sign, co-sign and correct it; the events go with it.

A signature, a co-signature and a billing correction each announce ``EncounterSigned``
(and, for a dosing session, the registries' report) in the same write as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.forms import BUILTIN_FORMS, FormDefinition, validate_answers
from halcyon.clinical.domain.notes import (
    AddendumDraft,
    NoteDraft,
    SignRequest,
    billable_facts,
    billing_minutes,
    compliance_flags,
    content_hash,
    encounter_clinicians_order,
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
from halcyon.clinical.domain.vitals import session_gaps
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import (
    ConsentRepository,
    EpisodeRepository,
    FormRepository,
    NoteRepository,
    ScreeningRepository,
    SiteDirectory,
    StaffDirectory,
    VitalsRepository,
)
from halcyon.clinical.usecases.chart import CHART_WRITERS, Chart, Charts
from halcyon.clinical.usecases.gating import check_dosing_signature
from halcyon.shared.contracts.clinical import EncounterClinician, EncounterSigned
from halcyon.shared.contracts.partner import AdverseEventCounts, RegistrySessionReported
from halcyon.shared.errors import Conflict, RuleViolation
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.partners import pseudonym
from uuid6 import uuid7

RESOURCE = "clinical/note"


def now_ms() -> datetime:
    # Mongo keeps milliseconds; sign with what will be stored so the hash verifies.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class EncounterNotes:
    """A request's way into encounter notes: the running service and the chart door."""

    runtime: ClinicalRuntime
    charts: Charts

    @property
    def tenant_id(self) -> str:
        return self.charts.caller.tenant_id

    @property
    def user_id(self) -> str:
        return self.charts.caller.user_id

    @property
    def notes(self) -> NoteRepository:
        return self.runtime.repo(NoteRepository)

    async def open(
        self, note_id: str, roles: frozenset[str], action: str
    ) -> tuple[Chart, Document]:
        """The note and its client's chart, if the caller may ``action`` it."""
        doc = await self.notes.get(self.tenant_id, note_id)
        if doc is None:
            raise await self.charts.access.missing(
                "note", note_id, action=action, resource="note", resource_id=note_id
            )
        chart = await self.charts.open(
            doc["client_id"], roles, action=action, resource=RESOURCE, resource_id=note_id
        )
        return chart, doc

    async def open_draft(
        self, note_id: str, roles: frozenset[str], action: str
    ) -> tuple[Chart, Document]:
        """A draft the caller wrote; a signed note refuses, audited."""
        chart, doc = await self.open(note_id, roles, action)
        try:
            ensure_editable(doc)
        except Conflict as exc:
            await chart.denied(action, RESOURCE, note_id, exc.detail)
            raise
        ensure_author(doc, self.user_id)
        return chart, doc

    # -- drafts --------------------------------------------------------------------------

    async def _template(self, draft: NoteDraft) -> FormDefinition:
        if draft.template_id in BUILTIN_FORMS:
            return BUILTIN_FORMS[draft.template_id]
        doc = await self.runtime.repo(FormRepository).find_one(
            self.tenant_id, {"key": draft.template_id, "version": draft.template_version}
        )
        if doc is None:
            raise RuleViolation(f"no template {draft.template_id} version {draft.template_version}")
        form = FormDefinition.model_validate(doc["definition"])
        if form.kind != "note_template" or form.note_kind != draft.kind:
            raise RuleViolation(f"{draft.template_id} is not a template for {draft.kind} notes")
        return form

    async def _check_draft(self, chart: Chart, draft: NoteDraft, action: str) -> None:
        """The author writes at the note's site, is one of its clinicians, and fills in
        the template as it asks; a refusal at the site is audited."""
        await chart.access.require(
            CHART_WRITERS,
            draft.site_id,
            action=action,
            resource=RESOURCE,
            client_id=chart.client_id,
        )
        if self.user_id not in {c.staff_id for c in draft.clinicians}:
            raise RuleViolation("the author is listed among the encounter's clinicians")
        if draft.dosing is not None:
            protocol(draft.dosing.protocol_id)
            if draft.dosing.administered_at < draft.started_at:
                raise RuleViolation("the dose was given before the session started")
        validate_answers(await self._template(draft), draft.content)

    async def write(self, chart: Chart, draft: NoteDraft) -> Document:
        """Start a draft note in the client's chart."""
        await self._check_draft(chart, draft, "create")
        doc = await self.notes.insert(
            self.tenant_id,
            {
                "_id": str(uuid7()),
                "client_id": chart.client_id,
                **draft.model_dump(),
                "status": "draft",
                "draft_version": 1,
                "author_id": self.user_id,
                "created_at": utcnow(),
            },
        )
        await chart.record("create", RESOURCE, doc["_id"])
        return doc

    async def edit(self, chart: Chart, note_id: str, draft: NoteDraft) -> Document:
        """Replace a draft; every edit bumps its version."""
        await self._check_draft(chart, draft, "update")
        updated = await self.notes.update(
            self.tenant_id,
            {"_id": note_id},
            # Every edit bumps the version, so a signature racing it cannot hash stale content.
            {"$set": {**draft.model_dump(), "updated_at": utcnow()}, "$inc": {"draft_version": 1}},
        )
        if updated is None:  # signed between our read and this write
            raise Conflict("this note was signed meanwhile; write an addendum instead")
        await chart.record("update", RESOURCE, note_id)
        return updated

    async def discard(self, chart: Chart, note_id: str) -> None:
        if await self.notes.delete(self.tenant_id, {"_id": note_id}) == 0:
            raise Conflict("this note was signed meanwhile and can no longer be discarded")
        await chart.record("delete", RESOURCE, note_id)

    # -- signing -------------------------------------------------------------------------

    async def sign(self, chart: Chart, doc: Document, body: SignRequest) -> Document:
        """Sign and lock a draft: hashed, flagged, and announced unless a supervisor must
        co-sign first. Failed protocol conditions refuse unless each is acknowledged."""
        note_id = doc["_id"]
        if doc.get("addendum_of"):
            raise Conflict("addenda are signed when written")
        ensure_signable(doc)
        supervisor_id = await self._supervisor(body)
        await self._check_monitoring(doc)
        signed_at = now_ms()
        consents = await self.runtime.repo(ConsentRepository).find(
            self.tenant_id, {"client_id": doc["client_id"]}
        )
        screenings = await self.runtime.repo(ScreeningRepository).find(
            self.tenant_id, {"client_id": doc["client_id"]}
        )
        acknowledged = await check_dosing_signature(
            chart, doc, consents, screenings, body.acknowledged_conditions, signed_at
        )
        new_status = status_after_signing(supervisor_id)
        events = await self._signed_events(doc, signed_at) if new_status == "signed" else []
        signed = {**doc, "signed_by": self.user_id, "signed_at": signed_at}
        updated = await self.notes.transition(
            self.tenant_id,
            note_id,
            from_status="draft",
            changes={
                "status": new_status,
                "signed_by": self.user_id,
                "signed_at": signed_at,
                "content_hash": content_hash(signed),
                "supervisor_id": supervisor_id,
                "compliance_flags": compliance_flags(doc, consents, screenings, signed_at),
                "acknowledged_conditions": acknowledged,
            },
            events=events,
            draft_version=doc.get("draft_version"),
        )
        if updated is None:
            raise Conflict("this note was signed or edited meanwhile; reload it and sign again")
        # Signing over failed protocol conditions is an override: the trail names each.
        overridden = ", ".join(a["code"] for a in acknowledged)
        reason = f"acknowledged protocol conditions: {overridden}" if overridden else None
        await chart.record("sign", RESOURCE, note_id, reason=reason)
        return updated

    async def _supervisor(self, body: SignRequest) -> str | None:
        author = await self.runtime.repo(StaffDirectory).get(self.tenant_id, self.user_id)
        supervisor_id = body.supervisor_id or (author or {}).get("supervisor_id")
        if supervisor_id == self.user_id:
            raise RuleViolation("a clinician cannot supervise their own note")
        return supervisor_id

    async def _check_monitoring(self, doc: Document) -> None:
        if not doc.get("dosing"):
            return
        chosen = protocol(doc["dosing"]["protocol_id"])
        readings = await self.runtime.repo(VitalsRepository).find(
            self.tenant_id, {"encounter_id": doc["_id"]}
        )
        gaps = session_gaps(chosen, readings, doc["dosing"]["administered_at"], doc["ended_at"])
        if gaps:
            raise RuleViolation(
                f"the session does not meet the {chosen.name} monitoring rules", gaps=gaps
            )

    async def _signed_events(self, doc: Document, signed_at: datetime) -> list[OutboxEvent]:
        """The encounter for billing and, in the same write, the registries' report."""
        site_timezone = await self._site_timezone(doc["site_id"])
        encounter = await self._encounter_signed(
            doc, revision=1, corrections=[], signed_at=signed_at, site_timezone=site_timezone
        )
        events = [self.runtime.event(encounter, tenant_id=self.tenant_id)]
        return events + await self._registry_session(doc, site_timezone=site_timezone)

    async def cosign(self, chart: Chart, doc: Document) -> Document:
        """The supervisor's co-signature: the note becomes signed and is announced."""
        note_id = doc["_id"]
        try:
            ensure_cosigner(doc, self.user_id)
        except (Conflict, RuleViolation) as exc:
            await chart.denied("sign", RESOURCE, note_id, exc.detail)
            raise
        if not verify(doc):
            raise Conflict("the note no longer matches its signature hash; it cannot be co-signed")
        cosigned_at = now_ms()
        # A supervised dosing note reaches registries when it is co-signed, like billing.
        events = await self._signed_events(doc, cosigned_at)
        updated = await self.notes.transition(
            self.tenant_id,
            note_id,
            from_status="awaiting_cosign",
            changes={"status": "signed", "cosigned_by": self.user_id, "cosigned_at": cosigned_at},
            events=events,
        )
        if updated is None:
            raise Conflict("this note was co-signed meanwhile")
        await chart.record("sign", RESOURCE, note_id)
        return updated

    async def add_addendum(self, chart: Chart, doc: Document, body: AddendumDraft) -> Document:
        """A signed addendum to a signed note; a billing correction re-announces the
        encounter as its next revision."""
        note_id = doc["_id"]
        if doc.get("addendum_of"):
            raise RuleViolation("addenda attach to the original note, not to another addendum")
        if doc["status"] != "signed":
            raise Conflict("only a signed note takes addenda; edit the draft instead")
        correction = body.billing_correction.model_dump() if body.billing_correction else None
        signed_at = now_ms()
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
            "author_id": self.user_id,
            "status": "signed",
            "signed_by": self.user_id,
            "signed_at": signed_at,
            "created_at": signed_at,
        }
        events = []
        if correction is not None:
            events.append(await self._correction(doc, addendum, correction, signed_at))
        addendum["content_hash"] = content_hash(addendum)
        saved = await self.notes.insert(self.tenant_id, addendum, events)
        await chart.record("create", RESOURCE, saved["_id"])
        return saved

    async def _correction(
        self,
        doc: Document,
        addendum: Document,
        correction: dict[str, Any],
        signed_at: datetime,
    ) -> OutboxEvent:
        """The encounter as corrected by every billing correction so far (sets the revision)."""
        facts = billable_facts(doc, [correction])
        if facts["ended_at"] < facts["started_at"]:
            raise RuleViolation("the corrected end is before the corrected start")
        earlier = await self.notes.find(
            self.tenant_id, {"addendum_of": doc["_id"], "billing_correction": {"$ne": None}}
        )
        revision = await self.notes.next_revision(self.tenant_id, doc["_id"])
        addendum["revision"] = revision
        encounter = await self._encounter_signed(
            doc,
            revision=revision,
            corrections=[e["billing_correction"] for e in earlier] + [correction],
            signed_at=signed_at,
            site_timezone=await self._site_timezone(doc["site_id"]),
            addendum_id=addendum["_id"],
        )
        return self.runtime.event(encounter, tenant_id=self.tenant_id)

    # -- what a signature announces ------------------------------------------------------

    async def _site_timezone(self, site_id: str) -> str | None:
        site = await self.runtime.repo(SiteDirectory).get(self.tenant_id, site_id)
        return site.get("timezone") if site else None

    async def _encounter_signed(
        self,
        note: Document,
        *,
        revision: int,
        corrections: list[dict[str, Any]],
        signed_at: datetime,
        site_timezone: str | None,
        addendum_id: str | None = None,
    ) -> EncounterSigned:
        tenant_id = self.tenant_id
        facts = billable_facts(note, corrections)
        # 42 CFR Part 2: the episode's program decides as much as the note's own flag.
        episodes = self.runtime.repo(EpisodeRepository)
        episode = (
            await episodes.get(tenant_id, note["episode_id"]) if note.get("episode_id") else None
        )
        ids = [c["staff_id"] for c in facts["clinicians"]]
        staff = self.runtime.repo(StaffDirectory)
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
        clinicians.sort(key=lambda c: encounter_clinicians_order(c.monitoring_role))
        monitoring = [c.minutes for c in clinicians if c.monitoring_role and c.minutes]
        monitoring_minutes = max(monitoring) if monitoring else None
        if monitoring_minutes is None and note.get("dosing"):
            monitoring_minutes = billing_minutes(
                note["dosing"]["administered_at"], facts["ended_at"]
            )
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

    async def _registry_session(
        self, note: Document, *, site_timezone: str | None
    ) -> list[OutboxEvent]:
        """The research registries' report of a signed dosing session (ADR 0007), or nothing.

        Minimum necessary: counts and the day, never the note's text, names, ids or times.
        The participant is the same pseudonym inventory puts on the dose reports.
        """
        dosing = note.get("dosing")
        if note.get("kind") != "dosing" or not dosing:
            return []
        tenant_id = self.tenant_id
        secret = self.runtime.settings.field_encryption_key
        readings = await self.runtime.repo(VitalsRepository).find(
            tenant_id, {"encounter_id": note["_id"]}
        )
        earlier = await self.notes.find(
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
        return [self.runtime.event(report, tenant_id=tenant_id)]
