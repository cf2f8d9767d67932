"""Group sessions: clients booking the same type, start and room share one session.

The first client creates it and claims its clinicians and room; every client takes a
seat with one conditional ``$inc`` (never overfilled); the last one out frees them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from halcyon.scheduling.domain.booking import BookingPlan, SlotTaken, group_session_id
from halcyon.scheduling.usecases.claims import take
from halcyon.shared.mongo import Document, DuplicateRecord

if TYPE_CHECKING:
    from halcyon.scheduling.usecases.booking import Scheduler


async def _seats(scheduler: Scheduler, tenant_id: str, plan: BookingPlan) -> int:
    seats = plan.kind.max_clients
    if plan.request.room_id:
        room = await scheduler.rooms.get(tenant_id, plan.request.room_id)
        seats = min(seats, int((room or {}).get("capacity", seats)))
    return seats


def _why_not(
    session_id: str, existing: Document, clinician_ids: list[str], seats: int
) -> SlotTaken:
    if existing.get("clinician_ids") != clinician_ids:
        return SlotTaken(
            "a group session with other clinicians is booked in that room then",
            resource_kind="group_session",
            resource_id=session_id,
        )
    if existing.get("seats_taken", 0) >= seats:
        return SlotTaken(
            f"the group session is full ({seats} clients)",
            resource_kind="group_session",
            resource_id=session_id,
        )
    return SlotTaken(
        "the group session is being set up; try again",
        resource_kind="group_session",
        resource_id=session_id,
    )


async def join_group(scheduler: Scheduler, tenant_id: str, plan: BookingPlan) -> str:
    """Take a seat in the group session, creating it (and claiming its clinicians and
    room) for the first client. Seats are one conditional ``$inc``: never overfilled."""
    sessions = scheduler.group_sessions
    session_id = group_session_id(tenant_id, plan)
    clinician_ids = sorted(s for s, _ in plan.request.clinicians)
    seats = await _seats(scheduler, tenant_id, plan)
    for _ in range(2):
        joined = await sessions.update(
            tenant_id,
            {
                "_id": session_id,
                "state": "ready",
                "clinician_ids": clinician_ids,
                "seats_taken": {"$lt": seats},
            },
            {"$inc": {"seats_taken": 1}},
        )
        if joined is not None:
            return session_id
        existing = await sessions.get(tenant_id, session_id)
        if existing is not None:
            raise _why_not(session_id, existing, clinician_ids, seats)
        try:
            await sessions.insert(
                tenant_id,
                {
                    "_id": session_id,
                    "state": "claiming",
                    "seats_taken": 1,
                    "clinician_ids": clinician_ids,
                    "room_id": plan.request.room_id,
                    "starts_at": plan.interval.start,
                    "ends_at": plan.interval.end,
                },
            )
        except DuplicateRecord:
            continue  # someone created it a moment ago: join theirs
        resources = [f"clinician:{c}" for c in clinician_ids]
        if plan.request.room_id:
            resources.append(f"room:{plan.request.room_id}")
        try:
            await take(scheduler, tenant_id, session_id, plan, resources=resources)
        except BaseException:
            await sessions.delete(tenant_id, {"_id": session_id})
            raise
        await sessions.update(tenant_id, {"_id": session_id}, {"$set": {"state": "ready"}})
        return session_id
    raise SlotTaken(
        "the group session changed meanwhile; try again",
        resource_kind="group_session",
        resource_id=session_id,
    )


async def leave_group(scheduler: Scheduler, tenant_id: str, session_id: str) -> None:
    """Give the seat back; the last client out frees the clinicians and the room."""
    sessions = scheduler.group_sessions
    left = await sessions.update(
        tenant_id,
        {"_id": session_id, "seats_taken": {"$gte": 1}},
        {"$inc": {"seats_taken": -1}},
    )
    if left is None or left["seats_taken"] > 0:
        return
    closing = await sessions.update(
        tenant_id,
        {"_id": session_id, "seats_taken": 0, "state": "ready"},
        {"$set": {"state": "closing"}},
    )
    if closing is not None:
        await scheduler.claims.release(tenant_id, session_id)
        await sessions.delete(tenant_id, {"_id": session_id, "state": "closing"})
