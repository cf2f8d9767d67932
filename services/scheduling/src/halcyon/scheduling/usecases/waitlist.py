"""The waitlist: clients waiting for a type (or a clinician) at a site. A freed slot is
offered to the first suitable client (oldest first); an offer not taken in time goes
back, and the client keeps their place in the line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from halcyon.scheduling.domain.booking import BookingRequest
from halcyon.scheduling.domain.calendar import zone
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.scheduling import WaitlistOfferMade
from halcyon.shared.errors import Conflict, RuleViolation
from halcyon.shared.mongo import Document
from uuid6 import uuid7

if TYPE_CHECKING:
    from halcyon.scheduling.usecases.booking import Scheduler


@dataclass(frozen=True)
class WaitlistRequest:
    client_id: str
    site_id: str
    appointment_type: str
    clinician_id: str | None = None
    not_before: date | None = None
    not_after: date | None = None


def suits(entry: Document, freed: Document, day: str) -> bool:
    """Whether a waiting client may be offered the freed appointment's slot."""
    if entry["client_id"] == freed["client_id"]:
        return False
    if entry.get("clinician_id") and entry["clinician_id"] not in freed["clinician_ids"]:
        return False
    if entry.get("not_before") and day < entry["not_before"]:
        return False
    return not (entry.get("not_after") and day > entry["not_after"])


async def join_waitlist(scheduler: Scheduler, caller: Caller, wanted: WaitlistRequest) -> Document:
    tenant = caller.tenant_id
    if await scheduler.appointment_type(tenant, wanted.appointment_type) is None:
        raise RuleViolation(f"there is no appointment type {wanted.appointment_type!r}")
    if await scheduler.clients.get(tenant, wanted.client_id) is None:
        raise RuleViolation(f"client {wanted.client_id} is not known to scheduling (yet)")
    if await scheduler.site(tenant, wanted.site_id) is None:
        raise RuleViolation(f"site {wanted.site_id} is not known to scheduling (yet)")
    now = datetime.now(UTC)
    doc = {
        "_id": str(uuid7()),
        "client_id": wanted.client_id,
        "site_id": wanted.site_id,
        "appointment_type": wanted.appointment_type,
        "clinician_id": wanted.clinician_id,
        "not_before": wanted.not_before.isoformat() if wanted.not_before else None,
        "not_after": wanted.not_after.isoformat() if wanted.not_after else None,
        "status": "waiting",
        "offer": None,
        "created_at": now,
        "created_by": caller.user_id,
        "history": [{"change": "joined", "at": now}],
    }
    return await scheduler.waitlist.insert(tenant, doc)


async def accept_offer(scheduler: Scheduler, caller: Caller, entry: Document) -> Document:
    """Book the slot offered to this entry's client, before the offer expires."""
    offer = entry.get("offer")
    if entry["status"] != "offered" or not offer:
        raise Conflict("this entry has no open offer")
    if offer["expires_at"] <= datetime.now(UTC):
        raise Conflict("the offer has expired")
    tenant, entry_id = caller.tenant_id, entry["_id"]
    plan = await scheduler.plan(
        tenant,
        BookingRequest(
            client_id=entry["client_id"],
            site_id=entry["site_id"],
            appointment_type=entry["appointment_type"],
            starts_at=offer["starts_at"],
            clinicians=tuple((c["staff_id"], c["role"]) for c in offer["clinicians"]),
            room_id=offer.get("room_id"),
        ),
    )
    # Close the offer first (conditional): two clicks on "accept" book once.
    closed = await scheduler.waitlist.update(
        tenant,
        {"_id": entry_id, "status": "offered", "offer.offer_id": offer["offer_id"]},
        {"$set": {"status": "booking"}},
    )
    if closed is None:
        raise Conflict("this offer was already taken or withdrawn")
    try:
        booked = await scheduler.book(caller, plan)
    except Exception:
        await scheduler.waitlist.update(
            tenant, {"_id": entry_id, "status": "booking"}, {"$set": {"status": "offered"}}
        )
        raise
    await scheduler.waitlist.update(
        tenant,
        {"_id": entry_id},
        {
            "$set": {"status": "booked", "appointment_id": booked["_id"]},
            "$push": {"history": {"change": "booked", "at": datetime.now(UTC)}},
        },
    )
    return booked


async def offer_freed_slot(
    scheduler: Scheduler, tenant_id: str, freed: Document
) -> Document | None:
    """Offer a freed slot to the first suitable client waiting for it (oldest first)."""
    now = datetime.now(UTC)
    if freed["starts_at"] <= now:
        return None
    waiting = await scheduler.waitlist.find(
        tenant_id,
        {
            "site_id": freed["site_id"],
            "appointment_type": freed["appointment_type"],
            "status": "waiting",
        },
        sort=[("created_at", 1), ("_id", 1)],
        limit=50,
    )
    day = freed["starts_at"].astimezone(zone(freed["site_timezone"])).date().isoformat()
    for entry in waiting:
        if not suits(entry, freed, day):
            continue
        offer_id = str(uuid7())
        expires_at = now + timedelta(seconds=scheduler.settings.waitlist_offer_seconds)
        offer: dict[str, Any] = {
            "offer_id": offer_id,
            "freed_appointment_id": freed["_id"],
            "starts_at": freed["starts_at"],
            "ends_at": freed["ends_at"],
            "clinicians": freed["clinicians"],
            "room_id": freed.get("room_id"),
            "expires_at": expires_at,
            "made_at": now,
        }
        event = WaitlistOfferMade(
            offer_id=offer_id,
            client_id=entry["client_id"],
            site_id=freed["site_id"],
            site_timezone=freed["site_timezone"],
            appointment_type=freed["appointment_type"],
            starts_at=freed["starts_at"],
            ends_at=freed["ends_at"],
            expires_at=expires_at,
        )
        updated = await scheduler.waitlist.update(
            tenant_id,
            {"_id": entry["_id"], "status": "waiting"},
            {
                "$set": {"status": "offered", "offer": offer},
                "$push": {"history": {"change": "offered", "at": now, "offer_id": offer_id}},
            },
            [scheduler.runtime.event(event, tenant_id=tenant_id)],
        )
        if updated is not None:
            return updated
    return None


async def expire_offers(scheduler: Scheduler) -> int:
    """Offers nobody took in time go back: the client keeps their place in the line."""
    now = datetime.now(UTC)
    expired = 0
    for due in await scheduler.waitlist.offers_due_to_expire(now):
        updated = await scheduler.waitlist.update(
            due["tenant_id"],
            {"_id": due["_id"], "status": "offered", "offer.expires_at": {"$lte": now}},
            {
                "$set": {"status": "waiting", "offer": None},
                "$push": {"history": {"change": "offer_expired", "at": now}},
            },
        )
        expired += updated is not None
    return expired
