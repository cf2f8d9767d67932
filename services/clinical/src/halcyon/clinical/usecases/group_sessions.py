"""Group sessions: open every member's chart, write the one note, sign it, bill per member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.group_sessions import (
    GROUP_PSYCHOTHERAPY,
    GroupNoteDraft,
    billed_members,
    content_hash,
    ensure_signable,
    member_encounter_id,
    member_view,
)
from halcyon.clinical.domain.notes import billing_minutes, ensure_author, service_date
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import (
    GroupSessionRepository,
    SiteDirectory,
    StaffDirectory,
)
from halcyon.clinical.usecases.chart import CHART_READERS, CHART_WRITERS, Chart, Charts
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.clinical import EncounterClinician, EncounterSigned
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.mongo import Document, OutboxEvent
from uuid6 import uuid7

RESOURCE = "clinical/group-note"


@dataclass(frozen=True)
class GroupSessions:
    """What the group-session steps need: the running service and the chart door."""

    runtime: ClinicalRuntime
    charts: Charts

    @property
    def caller(self) -> Caller:
        return self.charts.caller

    @property
    def sessions(self) -> GroupSessionRepository:
        return self.runtime.repo(GroupSessionRepository)

    @property
    def staff(self) -> StaffDirectory:
        return self.runtime.repo(StaffDirectory)

    @property
    def sites(self) -> SiteDirectory:
        return self.runtime.repo(SiteDirectory)

    async def _charts(
        self, client_ids: list[str], roles: frozenset[str], action: str, session_id: str | None
    ) -> list[Chart]:
        """Every member's chart, each resolved in the caller's agency and access-checked.

        One member the caller may not open refuses the whole step: a group note is
        written and read as one record.
        """
        return [
            await self.charts.open(
                client_id, roles, action=action, resource=RESOURCE, resource_id=session_id
            )
            for client_id in client_ids
        ]

    async def _check_draft(self, draft: GroupNoteDraft, action: str, session_id: str) -> None:
        await self.charts.access.require(
            CHART_WRITERS, draft.site_id, action=action, resource=RESOURCE, resource_id=session_id
        )
        if self.caller.user_id not in {c.staff_id for c in draft.clinicians}:
            raise RuleViolation("the author is listed among the group's facilitating clinicians")

    async def _load(self, session_id: str, action: str = "read") -> Document:
        doc = await self.sessions.get(self.caller.tenant_id, session_id)
        if doc is None:
            raise await self.charts.access.missing(
                "group session", session_id, action=action, resource=RESOURCE,
                resource_id=session_id,
            )  # fmt: skip
        return doc

    async def create(self, draft: GroupNoteDraft) -> Document:
        session_id = str(uuid7())
        charts = await self._charts(
            [m.client_id for m in draft.members], CHART_WRITERS, "create", session_id
        )
        await self._check_draft(draft, "create", session_id)
        doc = await self.sessions.insert(
            self.caller.tenant_id,
            {
                "_id": session_id,
                **draft.model_dump(),
                "status": "draft",
                "draft_version": 1,
                "author_id": self.caller.user_id,
                "created_at": utcnow(),
            },
        )
        for chart in charts:
            await chart.record("create", RESOURCE, session_id)
        return doc

    async def edit(self, session_id: str, draft: GroupNoteDraft) -> Document:
        doc = await self._load(session_id, "update")
        if doc["status"] != "draft":
            raise Conflict("this group note is signed and locked", note_status=doc["status"])
        ensure_author(doc, self.caller.user_id)
        members = sorted(
            {m["client_id"] for m in doc["members"]} | {m.client_id for m in draft.members}
        )
        charts = await self._charts(members, CHART_WRITERS, "update", session_id)
        await self._check_draft(draft, "update", session_id)
        updated = await self.sessions.update(
            self.caller.tenant_id,
            {"_id": session_id},
            {"$set": {**draft.model_dump(), "updated_at": utcnow()}, "$inc": {"draft_version": 1}},
        )
        if updated is None:
            raise Conflict("this group note was signed meanwhile")
        for chart in charts:
            await chart.record("update", RESOURCE, session_id)
        return updated

    async def sign(self, session_id: str) -> Document:
        doc = await self._load(session_id, "sign")
        charts = await self._charts(
            [m["client_id"] for m in doc["members"]], CHART_WRITERS, "sign", session_id
        )
        if doc["status"] != "draft":
            for chart in charts:
                await chart.denied("sign", RESOURCE, session_id, "already signed")
            raise Conflict("this group note is signed and locked", note_status=doc["status"])
        ensure_author(doc, self.caller.user_id)
        ensure_signable(doc)
        signed_at = _now_ms()
        members = [
            {**m, "encounter_id": member_encounter_id(session_id, m["client_id"])}
            if m["attendance"] == "present"
            else m
            for m in doc["members"]
        ]
        signed = {**doc, "members": members, "signed_by": self.caller.user_id}
        signed["signed_at"] = signed_at
        events = await self._encounters(signed, signed_at)
        updated = await self.sessions.update(
            self.caller.tenant_id,
            {"_id": session_id, "draft_version": doc.get("draft_version")},
            {
                "$set": {
                    "status": "signed",
                    "members": members,
                    "signed_by": self.caller.user_id,
                    "signed_at": signed_at,
                    "content_hash": content_hash(signed),
                }
            },
            events,
        )
        if updated is None:
            raise Conflict("this group note was signed or edited meanwhile; reload and sign again")
        for chart in charts:
            await chart.record("sign", RESOURCE, session_id)
        return updated

    async def _encounters(self, session: Document, signed_at: datetime) -> list[OutboxEvent]:
        """One billable encounter (90853) per member present, in the signature's write."""
        ids = [c["staff_id"] for c in session["clinicians"]]
        known = {
            s["_id"]: s for s in await self.staff.find(self.caller.tenant_id, {"_id": {"$in": ids}})
        }
        clinicians = [
            EncounterClinician(
                staff_id=c["staff_id"],
                role=c["role"],
                npi=known.get(c["staff_id"], {}).get("npi"),
                minutes=c.get("minutes"),
            )
            for c in session["clinicians"]
        ]
        site = await self.sites.get(self.caller.tenant_id, session["site_id"])
        timezone = site.get("timezone") if site else None
        minutes = billing_minutes(session["started_at"], session["ended_at"])
        return [
            self.runtime.event(
                EncounterSigned(
                    encounter_id=member["encounter_id"],
                    client_id=member["client_id"],
                    site_id=session["site_id"],
                    kind="group",
                    service_date=service_date(session["started_at"], timezone),
                    started_at=session["started_at"],
                    ended_at=session["ended_at"],
                    psychotherapy_minutes=minutes,
                    clinicians=clinicians,
                    diagnoses=member["diagnoses"],
                    place_of_service=session["place_of_service"],
                    telehealth=session["telehealth"],
                    revision=1,
                    signed_at=signed_at,
                    service_codes=[GROUP_PSYCHOTHERAPY],
                ),
                tenant_id=self.caller.tenant_id,
            )
            for member in billed_members(session["members"])
        ]

    async def read_full(self, session_id: str) -> Document:
        """The whole note, for someone allowed into every member's chart (the facilitators)."""
        doc = await self._load(session_id)
        charts = await self._charts(
            [m["client_id"] for m in doc["members"]], CHART_READERS, "read", session_id
        )
        for chart in charts:
            await chart.record("read", RESOURCE, session_id)
        return doc

    async def read_for_client(self, client_id: str, session_id: str) -> dict[str, Any]:
        """The group note as ``client_id``'s chart shows it (audited on that chart only)."""
        [chart] = await self._charts([client_id], CHART_READERS, "read", session_id)
        doc = await self.sessions.find_one(
            self.caller.tenant_id, {"_id": session_id, "members.client_id": client_id}
        )
        if doc is None:
            raise NotFound(f"no group note {session_id} in this client's chart")
        await chart.record("read", RESOURCE, session_id)
        return member_view(doc, client_id)

    async def list_for_client(self, client_id: str) -> list[dict[str, Any]]:
        [chart] = await self._charts([client_id], CHART_READERS, "read", None)
        docs = await self.sessions.find(self.caller.tenant_id, {"members.client_id": client_id})
        await chart.record("read", RESOURCE)
        return [member_view(d, client_id) for d in docs]


def _now_ms() -> datetime:
    # Mongo keeps milliseconds; sign with what will be stored so the hash verifies.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
