"""Track each REMS session's Patient Monitoring Form and remind until it is submitted."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.domain.protocols import PROTOCOLS
from halcyon.clinical.domain.rems import form_deadline, stages_due
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import NoteRepository, RemsForms, SiteDirectory
from halcyon.shared.contracts.clinical import RemsMonitoringFormDue
from halcyon.shared.mongo import Document

log = logging.getLogger("halcyon.clinical.rems")
# Sessions signed this long ago or less are looked at for a form to track.
LOOKBACK = timedelta(days=30)


def form_protocols() -> dict[str, int]:
    return {
        p.id: p.session.monitoring_form_due_days
        for p in PROTOCOLS.values()
        if p.session.monitoring_form_due_days is not None
    }


async def track_forms(runtime: ClinicalRuntime, now: datetime) -> int:
    """One pass: a form record for each newly signed REMS session (idempotent upsert)."""
    due_days = form_protocols()
    notes = runtime.database[NoteRepository.collection_name]
    cursor = notes.find(
        {
            "kind": "dosing",
            "status": "signed",
            "dosing.protocol_id": {"$in": sorted(due_days)},
            "signed_at": {"$gte": now - LOOKBACK},
        },
        limit=500,
    )
    forms, sites = runtime.repo(RemsForms), runtime.repo(SiteDirectory)
    created = 0
    for note in [n async for n in cursor]:
        tenant = note["tenant_id"]
        if await forms.get(tenant, note["_id"]) is not None:
            continue
        site = await sites.get(tenant, note["site_id"]) or {}
        zone = site.get("timezone") or "UTC"
        deadline = form_deadline(note["ended_at"], zone, due_days[note["dosing"]["protocol_id"]])
        staff = [note["signed_by"], *([note["cosigned_by"]] if note.get("cosigned_by") else [])]
        await forms.update(
            tenant,
            {"_id": note["_id"]},
            {
                "$setOnInsert": {
                    "note_id": note["_id"],
                    "client_id": note["client_id"],
                    "site_id": note["site_id"],
                    "protocol_id": note["dosing"]["protocol_id"],
                    "session_on": deadline.session_on.isoformat(),
                    "due_on": deadline.due_on.isoformat(),
                    "due_at": deadline.due_at,
                    "staff_ids": staff,
                    "status": "open",
                    "reminders_sent": [],
                    "created_at": now,
                }
            },
            upsert=True,
        )
        created += 1
    return created


async def remind(runtime: ClinicalRuntime, now: datetime) -> int:
    """Queue each reminder stage that has come for an open form, once (conditional)."""
    cursor = runtime.database[RemsForms.collection_name].find(
        {"status": "open", "due_at": {"$lte": now + timedelta(days=2)}}, limit=500
    )
    forms = runtime.repo(RemsForms)
    sent = 0
    for form in [f async for f in cursor]:
        for stage in stages_due(_aware(form["due_at"]), now, form.get("reminders_sent", [])):
            reminder = RemsMonitoringFormDue(
                form_id=form["_id"],
                note_id=form["note_id"],
                client_id=form["client_id"],
                site_id=form["site_id"],
                session_on=form["session_on"],
                due_on=form["due_on"],
                stage=stage,
                staff_ids=form["staff_ids"],
            )
            done: Document | None = await forms.update(
                form["tenant_id"],
                {"_id": form["_id"], "status": "open", "reminders_sent": {"$ne": stage}},
                {"$push": {"reminders_sent": stage}},
                [runtime.event(reminder, tenant_id=form["tenant_id"])],
            )
            sent += done is not None
    return sent


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def run_rems_form_sweep(runtime: ClinicalRuntime) -> None:
    interval = runtime.settings.rems_form_sweep_seconds
    while True:
        try:
            now = utcnow()
            await track_forms(runtime, now)
            await remind(runtime, now)
        except Exception:
            log.exception("REMS form sweep failed; retrying next round")
        await asyncio.sleep(interval)
