"""Scheduling repositories: read models fed by other contexts, and what scheduling owns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from halcyon.scheduling.domain.calendar import (
    SLOT_SPANS,
    Block,
    related_blocks,
)
from halcyon.shared.mongo import Document, TenantRepository
from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError

# -- read models (other contexts own these facts) -------------------------------------


class ClientDirectory(TenantRepository):
    """Read model of clients, fed by clinical's ``ClientRegistered`` events."""

    collection_name = "clients"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("home_site_id", ASCENDING)]),)


class SiteCalendars(TenantRepository):
    """Sites: name and IANA zone from identity's ``SiteChanged``; opening hours owned here."""

    collection_name = "sites"


class StaffDirectory(TenantRepository):
    """Staff roles per site and licences, from identity's ``StaffMemberChanged``."""

    collection_name = "staff"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("site_roles", ASCENDING)]),)


class Consents(TenantRepository):
    """Client consents from clinical's ``ConsentChanged`` (latest state per consent)."""

    collection_name = "consents"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class Screenings(TenantRepository):
    """Psychedelic-therapy screenings from clinical's ``ScreeningCompleted``."""

    collection_name = "screenings"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class Authorizations(TenantRepository):
    """Insurance prior-authorization units from billing's ``AuthorizationChanged``."""

    collection_name = "authorizations"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


# -- owned by scheduling -------------------------------------------------------------


class Rooms(TenantRepository):
    collection_name = "rooms"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("site_id", ASCENDING)]),)


class AppointmentTypes(TenantRepository):
    """An agency's own appointment types and overrides of the defaults (``_id`` tenant:code)."""

    collection_name = "appointment_types"


class Availability(TenantRepository):
    """A clinician's weekly template and date exceptions at one site (``_id`` staff:site)."""

    collection_name = "availability"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("site_id", ASCENDING)]),)


class TimeOff(TenantRepository):
    collection_name = "time_off"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("staff_id", ASCENDING), ("starts_at", ASCENDING)]),
    )


class Appointments(TenantRepository):
    collection_name = "appointments"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("site_id", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("series_id", ASCENDING)]),
    )


class GroupSessions(TenantRepository):
    """A group session's seats; it owns the claims on its clinicians and room."""

    collection_name = "group_sessions"


class Series(TenantRepository):
    collection_name = "series"


class Waitlist(TenantRepository):
    collection_name = "waitlist"
    indexes = (
        IndexModel(
            [
                ("tenant_id", ASCENDING),
                ("site_id", ASCENDING),
                ("appointment_type", ASCENDING),
                ("status", ASCENDING),
                ("created_at", ASCENDING),
            ]
        ),
        IndexModel([("status", ASCENDING), ("offer.expires_at", ASCENDING)]),
    )

    async def offers_due_to_expire(self, now: datetime, limit: int = 100) -> list[Document]:
        """Offers past their expiry, across tenants: a system sweep, each doc names its tenant."""
        cursor = self._collection.find(
            {"status": "offered", "offer.expires_at": {"$lte": now}},
            projection={"_id": 1, "tenant_id": 1},
            limit=limit,
        )
        return [doc async for doc in cursor]


# Claims of the smallest size keep the ids of the time before blocks.
BASE_SPANS = (SLOT_SPANS[0],)
# How long an older booking waits for a younger overlapping one to step back.
YIELD_WAIT_S = 2.0


def _age(claim: Document) -> tuple[datetime, str]:
    """Which of two claims is older: claimed first, then by owner."""
    claimed_at: datetime = claim.get("claimed_at") or datetime.min.replace(tzinfo=UTC)
    return (claimed_at, str(claim["appointment_id"]))


class SlotClaims(TenantRepository):
    """One document per (resource, aligned block of time) an appointment holds.

    The document id is ``tenant|resource|block``, so the server's unique ``_id`` index
    makes two bookings of the same block impossible: exactly one insert succeeds. Blocks
    come in sizes nested inside each other (5 minutes to 4 hours; days for dosing
    intervals), so a booking also looks, after its insert, for another booking's larger
    or smaller block overlapping its own. See docs/adr/0400.
    """

    collection_name = "slot_claims"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("appointment_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("resource", ASCENDING), ("bucket", ASCENDING)]),
    )

    @staticmethod
    def claim_id(tenant_id: str, resource: str, block: Block) -> str:
        # The smallest sizes keep the id claims had before blocks (one per bucket or day).
        size = "" if block.span in BASE_SPANS else f"+{block.span // timedelta(minutes=1)}m"
        return f"{tenant_id}|{resource}|{block.start.astimezone(UTC).strftime('%Y%m%dT%H%M')}{size}"

    async def claim(
        self,
        tenant_id: str,
        appointment_id: str,
        resources: Sequence[str],
        held_blocks: Sequence[Block],
        *,
        spans: Sequence[timedelta],
        skip_ids: frozenset[str] = frozenset(),
        attempt: str | None = None,
    ) -> Document | None:
        """Insert every claim in one ordered batch, then look for an overlapping block of
        another size; on a collision undo ours.

        Returns None on success, or the claim that was already held (its owner
        tells the caller whom it collided with).
        """
        self._scope(tenant_id)
        # Stored to the millisecond, so both sides of a race compare the same instant.
        moment = datetime.now(UTC)
        now = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        wanted = [
            (resource, block, cid)
            for resource in sorted(resources)
            for block in held_blocks
            if (cid := self.claim_id(tenant_id, resource, block)) not in skip_ids
        ]
        docs = [
            {
                "_id": cid,
                "tenant_id": tenant_id,
                "resource": resource,
                "bucket": block.start,
                "span_minutes": block.span // timedelta(minutes=1),
                "appointment_id": appointment_id,
                "claimed_at": now,
                # a reschedule's claims count for the appointment once it commits
                **({"attempt": attempt} if attempt else {}),
            }
            for resource, block, cid in wanted
        ]
        if not docs:
            return None
        ours = (now, appointment_id)
        deadline = time.monotonic() + YIELD_WAIT_S
        held = await self._insert_all(tenant_id, appointment_id, docs, ours, deadline)
        if held is not None:
            return held
        related = sorted(
            {
                self.claim_id(tenant_id, resource, other)
                for resource, block, _ in wanted
                for other in related_blocks(block, spans)
            }
        )
        if not related:
            return None
        overlapping = await self._overlapping(tenant_id, appointment_id, ours, related, deadline)
        if overlapping is not None:
            await self._undo(tenant_id, appointment_id, docs)
        return overlapping

    async def _insert_all(
        self,
        tenant_id: str,
        appointment_id: str,
        docs: list[Document],
        ours: tuple[datetime, str],
        deadline: float,
    ) -> Document | None:
        """Insert the batch in order; None once all of it is in, else the claim that
        holds one of its ids (ours undone).

        A younger claim holding one of our ids will step back when it looks and sees
        the part of our batch already in: wait for it, then insert the rest.
        """
        pending = list(docs)
        while True:
            try:
                await self._collection.insert_many(pending, ordered=True)
                return None
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                index = errors[0].get("index", 0) if errors else 0
            taken, pending = pending[index], pending[index:]
            holder = await self._collection.find_one({"_id": taken["_id"]})
            if holder is None:
                continue  # stepped back meanwhile
            yields = (
                holder["appointment_id"] != appointment_id
                and _age(holder) > ours
                and time.monotonic() < deadline
            )
            if not yields:
                # only what this call inserted: the taken id may be another attempt's
                inserted = [d for d in docs if d not in pending]
                await self._undo(tenant_id, appointment_id, inserted)
                return holder
            await asyncio.sleep(0.02)

    async def _overlapping(
        self,
        tenant_id: str,
        appointment_id: str,
        ours: tuple[datetime, str],
        related: list[str],
        deadline: float,
    ) -> Document | None:
        """Another booking's block overlapping ours, which wins; None if ours does.

        Each of two overlapping bookings inserts before it looks, so at least one sees
        the other. The older claim (claimed first; then the owner's id) is kept and the
        younger steps back. An older claim that sees a younger one waits for it to step
        back: a younger one still there after the wait had looked before our insert and
        kept its claim, so it wins.
        """
        query = self._scope(
            tenant_id, {"_id": {"$in": related}, "appointment_id": {"$ne": appointment_id}}
        )
        while True:
            others = [doc async for doc in self._collection.find(query)]
            if not others:
                return None
            older = [o for o in others if _age(o) < ours]
            if older or time.monotonic() > deadline:
                return (older or others)[0]
            await asyncio.sleep(0.02)

    async def _undo(self, tenant_id: str, appointment_id: str, docs: Sequence[Document]) -> None:
        await self._collection.delete_many(
            {
                "tenant_id": tenant_id,
                "appointment_id": appointment_id,
                "_id": {"$in": [d["_id"] for d in docs]},
            }
        )

    async def release(
        self, tenant_id: str, appointment_id: str, only: Sequence[str] | None = None
    ) -> int:
        query: Document = {"appointment_id": appointment_id}
        if only is not None:
            query["_id"] = {"$in": list(only)}
        result = await self._collection.delete_many(self._scope(tenant_id, query))
        return result.deleted_count

    async def release_stale(self, tenant_id: str, claim_id: str, appointment_id: str) -> bool:
        """Remove one orphaned claim (its booking crashed or its release was lost)."""
        result = await self._collection.delete_one(
            self._scope(tenant_id, {"_id": claim_id, "appointment_id": appointment_id})
        )
        return result.deleted_count == 1

    async def held_by(
        self, tenant_id: str, appointment_id: str, committed: Sequence[str] = ()
    ) -> set[str]:
        """The appointment's claims: those of its booking and of the reschedules that
        committed, not those of one still in flight (which may yet step back)."""
        cursor = self._collection.find(
            self._scope(tenant_id, {"appointment_id": appointment_id}),
            projection={"_id": 1, "attempt": 1},
        )
        return {
            doc["_id"]
            async for doc in cursor
            if doc.get("attempt") is None or doc["attempt"] in committed
        }

    async def busy(
        self, tenant_id: str, resources: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, set[datetime]]:
        """The 5-minute buckets claimed per resource between start and end."""
        cursor = self._collection.find(
            self._scope(
                tenant_id,
                {
                    "resource": {"$in": list(resources)},
                    # a block starting up to its largest size earlier may reach in
                    "bucket": {"$gte": start - SLOT_SPANS[-1], "$lt": end},
                },
            ),
            projection={"resource": 1, "bucket": 1, "span_minutes": 1},
        )
        out: dict[str, set[datetime]] = {}
        async for doc in cursor:
            span = timedelta(minutes=doc.get("span_minutes", 5))
            block = Block(doc["bucket"].astimezone(UTC), span)
            out.setdefault(doc["resource"], set()).update(block.buckets())
        return out
