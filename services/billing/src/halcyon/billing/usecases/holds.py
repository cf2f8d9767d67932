"""The biller's work queue: held charges (one item per hold, opened and resolved in
place), and any item a biller closes with what was done.

A charge held for a reason a biller can act on (missing documentation, 42 CFR Part 2
consent) is never silent: the work queue shows it (``GET /work-queue?kind=...``) until
the hold is lifted, when the item is resolved with what lifted it. Items have
deterministic ids, so opening or resolving twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from halcyon.billing.store import WorkQueue
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import Conflict

HELD_CHARGE = "held_charge"
PART2_HOLD = "part2_hold"


def held_charge_item_id(charge_id: str) -> str:
    return f"wq:held:{charge_id}"


def part2_item_id(encounter_id: str, payer: str) -> str:
    return f"wq:part2:{encounter_id}:{payer}"


async def open_item(
    work: WorkQueue, tenant: str, item_id: str, kind: str, reason: str, facts: dict[str, Any]
) -> None:
    """Open (or reopen) the work item; its reason is what the biller reads."""
    await work.update(
        tenant,
        {"_id": item_id},
        {
            "$set": {
                **facts,
                "kind": kind,
                "status": "open",
                "reason": reason,
                "opened_at": datetime.now(UTC),
                "resolution": None,
            }
        },
        upsert=True,
    )


async def resolve_item(work: WorkQueue, tenant: str, item_id: str, resolution: str) -> None:
    await work.update(
        tenant,
        {"_id": item_id, "status": "open"},
        {
            "$set": {
                "status": "resolved",
                "resolution": resolution,
                "resolved_by": "billing",
                "resolved_at": datetime.now(UTC),
            }
        },
    )


async def resolve_by_biller(
    work: WorkQueue, access: RecordAccess, item_id: str, resolution: str
) -> dict[str, Any]:
    """Close an open work item with what the biller did; an item closed already is a 409."""
    caller = access.caller
    done = await work.update(
        caller.tenant_id,
        {"_id": item_id, "status": "open"},
        {
            "$set": {
                "status": "resolved",
                "resolution": resolution,
                "resolved_by": caller.user_id,
                "resolved_at": datetime.now(UTC),
            }
        },
    )
    if done is None:
        if await work.get(caller.tenant_id, item_id) is None:
            raise await access.missing(
                "work item", item_id, action="update", resource="work_queue", resource_id=item_id
            )
        raise Conflict(f"work item {item_id} is already resolved")
    return done
