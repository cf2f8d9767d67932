"""Gating at every step of a dosing session, not only at booking (docs/adr/0403).

Check-in and start re-check the protocol's client conditions (consent, latest
screening, preparation count, interval) against the read models as they are now;
start also checks who is in the room. A consent revoked or a screening found
ineligible flags the client's future dosing sessions and tells their clinicians.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from halcyon.scheduling.domain.appointments import LIVE
from halcyon.scheduling.domain.calendar import zone
from halcyon.scheduling.domain.gating import (
    FailedCondition,
    check_in_presence,
    check_monitoring,
    check_presence,
    check_protocol,
)
from halcyon.scheduling.usecases.booking import Scheduler
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.scheduling import DosingSessionFlagged, FailedConditionOut
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.protocol_floors import floor_of

log = logging.getLogger("halcyon.scheduling.gating")
GATED_CHANGES = frozenset({"checked_in", "started", "completed"})


class SessionRefused(RuleViolation):
    slug, title = "session-refused", "The session's protocol conditions do not hold now"


def present_staff(doc: Document, given: Sequence[str] | None) -> list[str]:
    """Who is in the room: as told now, else as told at check-in, else the booked team."""
    if given is not None:
        return list(given)
    if doc.get("present_staff_ids") is not None:
        return list(doc["present_staff_ids"])
    return [c["staff_id"] for c in doc["clinicians"]]


async def session_conditions(
    scheduler: Scheduler, tenant_id: str, doc: Document, change: str, present: Sequence[str]
) -> list[FailedCondition]:
    """Every failed condition of this dosing session's step, from the read models now."""
    if doc.get("protocol_step") != "dosing" or change not in GATED_CHANGES:
        return []
    kind = await scheduler.appointment_type(tenant_id, doc["appointment_type"])
    protocol = scheduler.protocol(doc.get("protocol_id"))
    if kind is None or protocol is None:
        return [FailedCondition("protocol_unknown", f"protocol {doc.get('protocol_id')} unknown")]
    if change == "completed":
        started = [h["at"] for h in doc.get("history", []) if h.get("change") == "started"]
        started_at = started[-1] if started else None
        if started_at is not None and started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=UTC)
        floor = floor_of(protocol.protocol_id)
        return check_monitoring(kind, floor, started_at, datetime.now(UTC))
    facts = await scheduler.client_protocol_facts(
        tenant_id, doc["client_id"], protocol, exclude=doc["_id"]
    )
    failed = check_protocol(kind, protocol, facts, doc["starts_at"])
    if change in {"checked_in", "started"}:
        booked = [(c["staff_id"], c["role"]) for c in doc["clinicians"]]
        clinicians = await scheduler.clinician_facts(
            tenant_id, doc["site_id"], [s for s, _ in booked]
        )
        day = datetime.now(UTC).astimezone(zone(doc["site_timezone"])).date()
        in_room = check_presence if change == "started" else check_in_presence
        failed += in_room(kind, floor_of(protocol.protocol_id), booked, present, clinicians, day)
    return failed


async def gate_step(
    scheduler: Scheduler,
    tenant_id: str,
    doc: Document,
    change: str,
    given_present: Sequence[str] | None,
) -> list[str] | None:
    """Raise ``SessionRefused`` naming every failed condition; else who is present
    (None when the step does not record it)."""
    if change == "completed":
        refuse(change, await session_conditions(scheduler, tenant_id, doc, change, []))
        return None
    present = present_staff(doc, given_present)
    unknown = sorted(set(present) - {c["staff_id"] for c in doc["clinicians"]})
    failed = [
        FailedCondition("present_staff", f"staff member {s} is not booked for this session")
        for s in unknown
    ]
    failed += await session_conditions(scheduler, tenant_id, doc, change, present)
    refuse(change, failed)
    return present


async def record_step(
    scheduler: Scheduler,
    caller: Caller,
    doc: Document,
    change: str,
    *,
    reason: str | None = None,
    given_present: Sequence[str] | None = None,
) -> Document:
    """Move an appointment on (cancel, check in, start, complete, no-show); a dosing
    session's check-in, start and completion are gated first (``SessionRefused``)."""
    extra: Document = {}
    if change in GATED_CHANGES:
        present = await gate_step(scheduler, caller.tenant_id, doc, change, given_present)
        if present is not None:
            extra["present_staff_ids"] = present
    return await scheduler.change_status(caller, doc, change, reason, extra)


def refuse(change: str, failed: list[FailedCondition]) -> None:
    if failed:
        raise SessionRefused(
            f"the session cannot be {change.replace('_', ' ')}: "
            + "; ".join(f.detail for f in failed),
            failed_conditions=[f.as_dict() for f in failed],
        )


async def flag_future_dosing(scheduler: Scheduler, tenant_id: str, client_id: str) -> int:
    """After a consent or screening change: flag each future live dosing session whose
    conditions no longer hold, once per distinct set of failures, and clear the flag of
    one whose conditions hold again. Returns how many sessions were newly flagged."""
    now = datetime.now(UTC)
    upcoming = await scheduler.appointments.find(
        tenant_id,
        {
            "client_id": client_id,
            "protocol_step": "dosing",
            "status": {"$in": sorted(LIVE)},
            "starts_at": {"$gt": now},
        },
        limit=100,
    )
    flagged = 0
    for doc in upcoming:
        kind = await scheduler.appointment_type(tenant_id, doc["appointment_type"])
        protocol = scheduler.protocol(doc.get("protocol_id"))
        if kind is None or protocol is None:
            continue
        facts = await scheduler.client_protocol_facts(
            tenant_id, client_id, protocol, exclude=doc["_id"]
        )
        # Only what a consent or screening change can break: the client's own standing.
        failed = [
            f
            for f in check_protocol(kind, protocol, facts, doc["starts_at"])
            if f.code in {"informed_consent", "eligible_screening"}
        ]
        codes = sorted(f.code for f in failed)
        if codes == sorted(doc.get("gate_flags") or []):
            continue  # nothing new to tell (also makes a redelivered event a no-op)
        events: list[OutboxEvent] = []
        if failed:
            flagged += 1
            event = DosingSessionFlagged(
                appointment_id=doc["_id"],
                client_id=client_id,
                site_id=doc["site_id"],
                site_timezone=doc["site_timezone"],
                appointment_type=doc["appointment_type"],
                protocol_id=protocol.protocol_id,
                starts_at=doc["starts_at"],
                clinician_ids=[c["staff_id"] for c in doc["clinicians"]],
                failed_conditions=[FailedConditionOut(**f.as_dict()) for f in failed],
            )
            events.append(scheduler.runtime.event(event, tenant_id=tenant_id))
        entry = {
            "change": "gate_flags",
            "status": doc["status"],
            "at": now,
            "by": "scheduling",
            "reason": ", ".join(codes) or "the protocol's conditions hold again",
        }
        await scheduler.appointments.update(
            tenant_id,
            {"_id": doc["_id"]},
            {"$set": {"gate_flags": codes, "gate_flagged_at": now}, "$push": {"history": entry}},
            events,
        )
    if flagged:
        log.info("flagged %d future dosing session(s) of a client", flagged)
    return flagged
