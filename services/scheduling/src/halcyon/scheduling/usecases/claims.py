"""Taking a slot: claim documents, one per resource and aligned block of time, whose
unique ``_id`` lets only one booking hold a block, and a look for overlapping blocks of
other sizes after the insert (docs/adr/0400-scheduling-slot-claims.md).

A claim left behind by a booking that crashed between its two writes (or a release
that was lost) is recognised as orphaned and taken over.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from halcyon.scheduling.domain.appointments import LIVE
from halcyon.scheduling.domain.booking import (
    GROUP_PREFIX,
    BookingPlan,
    BookingRefused,
    SlotTaken,
    dosing_window,
)
from halcyon.scheduling.domain.calendar import (
    BUCKET,
    SLOT_SPANS,
    WINDOW_SPANS,
    Block,
    Interval,
    blocks,
    buckets,
    local_iso,
    zone,
)
from halcyon.scheduling.domain.gating import FailedCondition
from halcyon.shared.mongo import Document

if TYPE_CHECKING:
    from halcyon.scheduling.usecases.booking import Scheduler

log = logging.getLogger("halcyon.scheduling.usecases.claims")
# A claim whose appointment never appeared is an orphan once it is this old
# (the booking that took it crashed between the two writes).
ORPHAN_AFTER = timedelta(minutes=2)


async def take(
    scheduler: Scheduler,
    tenant_id: str,
    owner: str,
    plan: BookingPlan,
    *,
    already_held: frozenset[str] = frozenset(),
    resources: Sequence[str] | None = None,
    held_blocks: Sequence[Block] | None = None,
    spans: Sequence[timedelta] = SLOT_SPANS,
    attempt: str | None = None,
) -> set[str]:
    """Claim every (resource, block); returns the claim ids this call inserted."""
    claims = scheduler.claims
    held_blocks = blocks(plan.interval) if held_blocks is None else held_blocks
    wanted_resources = list(plan.resources if resources is None else resources)
    for round_ in range(2):
        held = await claims.claim(
            tenant_id,
            owner,
            wanted_resources,
            held_blocks,
            spans=spans,
            skip_ids=already_held,
            attempt=attempt,
        )
        if held is None:
            wanted = {
                claims.claim_id(tenant_id, r, b) for r in wanted_resources for b in held_blocks
            }
            return wanted - already_held
        if round_ == 0 and await orphaned(scheduler, tenant_id, held):
            log.warning("releasing orphaned claim %s", held["_id"])
            await claims.release_stale(tenant_id, held["_id"], held["appointment_id"])
            continue
        kind, _, resource_id = str(held["resource"]).partition(":")
        raise SlotTaken(
            f"the {kind} {resource_id} is already booked around "
            f"{local_iso(max(held['bucket'], plan.interval.start), zone(plan.timezone))}",
            resource_kind=kind,
            resource_id=resource_id,
        )
    raise SlotTaken("the slot changed meanwhile; try again")


def claim_ids(scheduler: Scheduler, tenant_id: str, plan: BookingPlan) -> set[str]:
    """The ids of every claim the plan holds: its slot on each resource and its
    dosing interval."""
    claims = scheduler.claims
    ids = {claims.claim_id(tenant_id, r, b) for r in plan.resources for b in blocks(plan.interval)}
    window_resource, window = dosing_window(plan)
    return ids | {claims.claim_id(tenant_id, window_resource, b) for b in window}


async def orphaned(scheduler: Scheduler, tenant_id: str, claim: Document) -> bool:
    """A claim nobody stands behind: its booking crashed, or a release was lost."""
    claimed_at: datetime = claim.get("claimed_at") or datetime.now(UTC)
    old_enough = datetime.now(UTC) - claimed_at > ORPHAN_AFTER
    if str(claim["appointment_id"]).startswith(GROUP_PREFIX):
        session = await scheduler.group_sessions.get(tenant_id, claim["appointment_id"])
        return session is None and old_enough
    owner = await scheduler.appointments.get(tenant_id, claim["appointment_id"])
    if owner is None:
        return old_enough
    if owner["status"] == "cancelled":
        return True
    if str(claim["resource"]).startswith("dosing:"):
        # A dosing session's interval window: held while the session counts for the
        # rule (live or completed), like the gating check itself.
        return owner["status"] not in LIVE | {"completed"}
    span = timedelta(minutes=claim.get("span_minutes", 5))
    # Left behind by a reschedule that moved the appointment: a block reaching outside
    # the buckets of its current time (a block of the current time never does).
    held = buckets(Interval(owner["starts_at"], owner["ends_at"]))
    outside = claim["bucket"] < held[0] or claim["bucket"] + span > held[-1] + BUCKET
    return old_enough and outside


async def take_dosing_window(
    scheduler: Scheduler,
    tenant_id: str,
    appointment_id: str,
    plan: BookingPlan,
    already_held: frozenset[str] = frozenset(),
    attempt: str | None = None,
) -> set[str]:
    resource, window = dosing_window(plan)
    if not window or plan.protocol is None:
        return set()
    try:
        return await take(
            scheduler,
            tenant_id,
            appointment_id,
            plan,
            already_held=already_held,
            resources=[resource],
            held_blocks=window,
            spans=WINDOW_SPANS,
            attempt=attempt,
        )
    except SlotTaken:
        condition = FailedCondition(
            "dosing_interval",
            f"dosing sessions must be at least {plan.protocol.min_days_between_dosing} "
            "days apart; another was booked for this client meanwhile",
        )
        raise BookingRefused(condition.detail, failed_conditions=[condition.as_dict()]) from None
