"""Inventory repositories: its own records and the read models fed by other contexts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from halcyon.shared.errors import InvalidCursor
from halcyon.shared.mongo import (
    OUTBOX_FIELD,
    OUTBOX_PENDING_FIELD,
    OUTBOX_VERSION_FIELD,
    Document,
    OutboxEvent,
    Page,
    TenantRepository,
    decode_cursor,
    encode_cursor,
)
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000

# -- read models (event-carried state from identity, scheduling, clinical) -------------


class SiteDirectory(TenantRepository):
    """Sites as identity announces them (``SiteChanged``)."""

    collection_name = "sites"


class StaffDirectory(TenantRepository):
    """Staff personnel files from identity (``StaffMemberChanged``): roles and DEA numbers."""

    collection_name = "staff"


class AppointmentBook(TenantRepository):
    """Appointments from scheduling (``AppointmentChanged``): who, which protocol, status."""

    collection_name = "appointments"


class ClientDirectory(TenantRepository):
    """Client names from clinical (``ClientRegistered``), for the dispensing log."""

    collection_name = "clients"


class ClientConsents(TenantRepository):
    """Consents from clinical (``ConsentChanged``): every dose re-checks the protocol's."""

    collection_name = "consents"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class ClientScreenings(TenantRepository):
    """Screenings from clinical (``ScreeningCompleted``): the latest one must be eligible."""

    collection_name = "screenings"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


# -- inventory's own records ------------------------------------------------------------


class Registrations(TenantRepository):
    collection_name = "registrations"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("site_id", ASCENDING)]),)


class Products(TenantRepository):
    collection_name = "products"


class Locations(TenantRepository):
    collection_name = "locations"


class Lots(TenantRepository):
    collection_name = "lots"


class Balances(TenantRepository):
    """One document per lot and storage location; ``qty_ug`` (micrograms) never goes below zero
    because every decrement is conditional on ``qty_ug >= quantity``."""

    collection_name = "balances"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("registration_id", ASCENDING)]),)


class Ledger(TenantRepository):
    """Append-only entries; ``(tenant, registration, seq)`` is unique, which makes the
    insert of entry ``n+1`` the compare-and-set that extends a registration's chain."""

    collection_name = "ledger"
    indexes = (
        IndexModel(
            [("tenant_id", ASCENDING), ("registration_id", ASCENDING), ("seq", ASCENDING)],
            unique=True,
        ),
        IndexModel([("tenant_id", ASCENDING), ("lot_id", ASCENDING)]),
    )

    def outbox_fields(self, events: Sequence[OutboxEvent]) -> Document:
        """An entry's outbox fields (ADR 0003), made in the requesting task: its trace
        context and its count of Kafka sends, even when another task writes the entry."""
        if not events:
            return {}
        return {
            OUTBOX_FIELD: self._outbox.entries(events),
            OUTBOX_PENDING_FIELD: True,
            OUTBOX_VERSION_FIELD: 1,
        }

    async def append_entries(self, tenant_id: str, entries: Sequence[Document]) -> int:
        """Consecutive entries of one chain (each with its outbox fields) in one ordered
        insert: one command however many. Returns how many went in; fewer than given when
        a duplicate (a sequence number another instance took, or an entry id already
        appended) stopped it. Ordered: nothing after the duplicate is written, so the
        entries written are always a gap-free prefix."""
        docs = [self._scope(tenant_id, entry) for entry in entries]
        try:
            await self._collection.insert_many(docs, ordered=True)
            written = len(docs)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors or errors[0].get("code") != DUPLICATE_KEY:
                raise
            written = int(errors[0]["index"])
        if any(OUTBOX_FIELD in doc for doc in docs[:written]):
            self._signal()
        return written

    async def head(self, tenant_id: str, registration_id: str) -> Document | None:
        found = await self.find(
            tenant_id, {"registration_id": registration_id}, sort=[("seq", DESCENDING)], limit=1
        )
        return found[0] if found else None

    async def page_in_order(
        self,
        tenant_id: str,
        registration_id: str,
        *,
        limit: int,
        cursor: str | None,
        include_archived: bool,
    ) -> Page:
        """Keyset pagination on ``seq`` (chain order, not insertion order of ids)."""
        query: dict[str, Any] = {"registration_id": registration_id}
        if cursor:
            after = decode_cursor(cursor)
            if not isinstance(after, int):
                raise InvalidCursor("use next_cursor from the previous page, unchanged")
            query["seq"] = {"$gt": after}
        if not include_archived:
            query["archived_at"] = {"$exists": False}
        docs = await self.find(tenant_id, query, sort=[("seq", ASCENDING)], limit=limit + 1)
        next_cursor = encode_cursor(docs[limit - 1]["seq"]) if len(docs) > limit else None
        return Page(items=docs[:limit], next_cursor=next_cursor)

    async def counts_with_discrepancy_since(self, since: datetime) -> list[Document]:
        """Recent count entries that name a discrepancy, across tenants (repair sweep)."""
        cursor = self._collection.find(
            {"kind": "count", "discrepancy_id": {"$exists": True}, "recorded_at": {"$gte": since}},
            limit=5000,
        )
        return [doc async for doc in cursor]

    async def chain(self, tenant_id: str, registration_id: str) -> list[Document]:
        return await self.find(
            tenant_id, {"registration_id": registration_id}, sort=[("seq", ASCENDING)]
        )


class Postings(TenantRepository):
    """One document per ledger operation in flight: the anchor that recovery uses to
    finish or undo an operation a crash interrupted (see ADR 0500)."""

    collection_name = "postings"
    indexes = (IndexModel([("state", ASCENDING), ("created_at", ASCENDING)]),)

    async def stale(self, before: datetime, states: list[str]) -> list[Document]:
        # Recovery runs across tenants: each document still names its own tenant.
        cursor = self._collection.find(
            {"state": {"$in": states}, "created_at": {"$lt": before}}, limit=500
        )
        return [doc async for doc in cursor]


class LedgerAnchors(TenantRepository):
    """Signed checkpoints of each chain's head (ADR 0503). Inventory's own copy; the ones
    that count against a database administrator are identity's and the auditor's files.
    No update or delete: a checkpoint is never changed."""

    collection_name = "ledger_anchors"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("registration_id", ASCENDING), ("seq", ASCENDING)]),
    )

    async def latest(self, tenant_id: str, registration_id: str) -> Document | None:
        found = await self.find(
            tenant_id, {"registration_id": registration_id}, sort=[("seq", DESCENDING)], limit=1
        )
        return found[0] if found else None

    async def of_registration(self, tenant_id: str, registration_id: str) -> list[Document]:
        return await self.find(
            tenant_id, {"registration_id": registration_id}, sort=[("seq", ASCENDING)]
        )

    async def update(self, *_args: Any, **_kwargs: Any) -> Document | None:
        raise PermissionError("ledger anchors are append-only")

    async def delete(self, *_args: Any, **_kwargs: Any) -> int:
        raise PermissionError("ledger anchors are append-only")


class DosingSessions(TenantRepository):
    """One document per dosing appointment: which initial/supplemental dose it had."""

    collection_name = "dosing_sessions"


class Discrepancies(TenantRepository):
    collection_name = "discrepancies"


class Deadlines(TenantRepository):
    collection_name = "deadlines"
    indexes = (IndexModel([("status", ASCENDING), ("due_on", ASCENDING)]),)

    async def open_everywhere(self) -> list[Document]:
        cursor = self._collection.find({"status": "open"}, limit=1000)
        return [doc async for doc in cursor]


class RegistrationsEverywhere:
    """Cross-tenant scan for the compliance sweep (biennial inventory alerts)."""

    def __init__(self, registrations: Registrations) -> None:
        self._registrations = registrations

    async def all(self) -> list[Document]:
        cursor = self._registrations._collection.find({}, limit=5000)
        return [doc async for doc in cursor]


ALL_REPOSITORIES: list[type[TenantRepository]] = [
    SiteDirectory,
    StaffDirectory,
    AppointmentBook,
    ClientDirectory,
    ClientConsents,
    ClientScreenings,
    Registrations,
    Products,
    Locations,
    Lots,
    Balances,
    Ledger,
    Postings,
    DosingSessions,
    Discrepancies,
    Deadlines,
    LedgerAnchors,
]
