"""MongoDB access through PyMongo's async API, always scoped to one tenant.

Services never touch a raw collection: they subclass :class:`TenantRepository`,
whose every method takes the tenant id first and refuses to run without it.
Writes that cause events put them in the same document (``_outbox``), so the
state change and its events are one single-document write — atomic on MongoDB 7
and on FerretDB, neither of which we ask for multi-document transactions.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import InvalidCursor
from pymongo import ASCENDING, AsyncMongoClient, IndexModel, ReturnDocument, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

Document = dict[str, Any]

OUTBOX_FIELD = "_outbox"
OUTBOX_PENDING_FIELD = "_outbox_pending"
OUTBOX_VERSION_FIELD = "_outbox_version"
# Ids of the events already applied to a document (see TenantRepository.apply_event).
APPLIED_EVENTS_FIELD = "_applied_events"


class TenantScopeError(RuntimeError):
    """A repository call without a tenant, or with a filter naming another tenant."""


class DuplicateRecord(Exception):
    """An insert hit a unique index (e.g. an MRN already in use)."""


@dataclass
class RoundTrips:
    """What one action cost: database commands by name, and Kafka sends it caused.

    Kafka sends are the events an action queued in an outbox (the relay publishes each
    once, after the action) plus any it published itself.
    """

    database_commands: Counter[str] = field(default_factory=Counter)
    kafka_sends: int = 0

    @property
    def database_total(self) -> int:
        return sum(self.database_commands.values())


_round_trips: ContextVar[RoundTrips | None] = ContextVar("halcyon_round_trips", default=None)


@contextmanager
def counting_round_trips() -> Iterator[RoundTrips]:
    """Count the round trips of the code run inside (this task and tasks it starts)."""
    counts = RoundTrips()
    token = _round_trips.set(counts)
    try:
        yield counts
    finally:
        _round_trips.reset(token)


def note_kafka_sends(count: int) -> None:
    counts = _round_trips.get()
    if counts is not None:
        counts.kafka_sends += count


class RoundTripListener(monitoring.CommandListener):
    """PyMongo command monitoring: each command started counts against the current action.

    PyMongo calls it in the task that runs the command, so the context variable is the
    action's; commands of background work (the outbox relay, consumers) count nowhere.
    """

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        counts = _round_trips.get()
        if counts is not None:
            counts.database_commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def connect(url: str, *, count_round_trips: bool = False) -> AsyncMongoClient[Document]:
    # tz_aware: every datetime read back is UTC-aware, matching what we store.
    listeners = [RoundTripListener()] if count_round_trips else []
    return AsyncMongoClient(
        url, tz_aware=True, uuidRepresentation="standard", event_listeners=listeners
    )


def pending_event(envelope: EventEnvelope, trace_carrier: Mapping[str, str]) -> Document:
    """How an event waits in a document's outbox: the envelope plus the trace that caused it."""
    return {
        "id": envelope.id,
        "topic": None,  # filled by the caller via with_topic
        "key": envelope.subject,
        "envelope": envelope.model_dump(mode="json"),
        "trace": dict(trace_carrier),
        "created_at": datetime.now(UTC),
    }


@dataclass(frozen=True)
class OutboxEvent:
    """One event to publish: the envelope and the (unprefixed) topic it goes to."""

    envelope: EventEnvelope
    topic: str


class OutboxWriter:
    """Turns events into the outbox fields of a single-document write."""

    def __init__(self, topic_prefix: str = "") -> None:
        self._topic_prefix = topic_prefix

    def entries(self, events: Sequence[OutboxEvent]) -> list[Document]:
        from halcyon.shared.telemetry import current_trace_carrier

        carrier = current_trace_carrier()
        out = []
        for event in events:
            entry = pending_event(event.envelope, carrier)
            entry["topic"] = f"{self._topic_prefix}{event.topic}"
            out.append(entry)
        note_kafka_sends(len(out))
        return out


async def create_indexes(
    collection: AsyncCollection[Document], models: Sequence[IndexModel]
) -> None:
    # One index per command: FerretDB 1.24 panics when a single createIndexes call
    # re-creates several indexes that already exist (every restart does that).
    for model in models:
        await collection.create_indexes([model])


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, default=str).encode()).decode()


def decode_cursor(cursor: str) -> Any:
    """The key a cursor stands for: a string or an integer, as ``encode_cursor`` made it.

    Anything else (not base64, not JSON, an object, a float) is refused: the value goes
    into a query, so a crafted cursor must never become an operator or an odd type."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")), parse_constant=_nan)
    except (ValueError, RecursionError) as exc:
        raise InvalidCursor("use next_cursor from the previous page, unchanged") from exc
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidCursor("use next_cursor from the previous page, unchanged")
    if isinstance(value, int) and abs(value) >= 2**63:
        raise InvalidCursor("use next_cursor from the previous page, unchanged")
    return value


def _nan(name: str) -> Any:
    raise ValueError(f"{name} is not a cursor")


@dataclass(frozen=True)
class Page:
    items: list[Document]
    next_cursor: str | None


class TenantRepository:
    """Base for every repository: tenant-scoped queries, outbox-aware writes, indexes."""

    collection_name: ClassVar[str]
    # Extra indexes; every collection also gets one starting with tenant_id.
    indexes: ClassVar[Sequence[IndexModel]] = ()

    def __init__(self, database: AsyncDatabase[Document], outbox: OutboxWriter | None = None):
        self._collection: AsyncCollection[Document] = database[self.collection_name]
        self._outbox = outbox or OutboxWriter()
        self._on_events: list[Callable[[str], None]] = []

    def notify_on_events(self, callback: Callable[[str], None]) -> None:
        """Let the outbox relay know at once that events are waiting in this collection
        (lower latency: it looks there alone, not in every collection)."""
        self._on_events.append(callback)

    async def ensure_indexes(self) -> None:
        base = [
            IndexModel([("tenant_id", ASCENDING), ("_id", ASCENDING)]),
            IndexModel([(OUTBOX_PENDING_FIELD, ASCENDING)], sparse=True),
        ]
        await create_indexes(self._collection, [*base, *self.indexes])

    # -- scoping -----------------------------------------------------------------
    @staticmethod
    def _scope(tenant_id: str, query: Mapping[str, Any] | None = None) -> Document:
        if not isinstance(tenant_id, str) or not tenant_id.strip():
            raise TenantScopeError("repository called without a tenant id")
        query = dict(query or {})
        if "tenant_id" in query and query["tenant_id"] != tenant_id:
            raise TenantScopeError("filter names a different tenant than the caller's")
        query["tenant_id"] = tenant_id
        return query

    def _signal(self) -> None:
        for callback in self._on_events:
            callback(self.collection_name)

    # -- reads -------------------------------------------------------------------
    async def get(self, tenant_id: str, record_id: Any) -> Document | None:
        return await self._collection.find_one(
            self._scope(tenant_id, {"_id": record_id}), projection=_HIDE_OUTBOX
        )

    async def find_one(self, tenant_id: str, query: Mapping[str, Any]) -> Document | None:
        return await self._collection.find_one(
            self._scope(tenant_id, query), projection=_HIDE_OUTBOX
        )

    async def find(
        self,
        tenant_id: str,
        query: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[tuple[str, int]] = (("_id", ASCENDING),),
        limit: int = 0,
    ) -> list[Document]:
        cursor = self._collection.find(
            self._scope(tenant_id, query), projection=_HIDE_OUTBOX, sort=list(sort), limit=limit
        )
        return [doc async for doc in cursor]

    async def count(self, tenant_id: str, query: Mapping[str, Any] | None = None) -> int:
        return await self._collection.count_documents(self._scope(tenant_id, query))

    async def distinct(
        self, tenant_id: str, key: str, query: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """The distinct values of ``key`` among the tenant's matching records."""
        return list(await self._collection.distinct(key, self._scope(tenant_id, query)))

    async def page(
        self,
        tenant_id: str,
        query: Mapping[str, Any] | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Keyset pagination on ``_id``: stable while records are added, no skip cost."""
        scoped = self._scope(tenant_id, query)
        if cursor:
            scoped = {"$and": [scoped, {"_id": {"$gt": decode_cursor(cursor)}}]}
        docs = [
            doc
            async for doc in self._collection.find(
                scoped, projection=_HIDE_OUTBOX, sort=[("_id", ASCENDING)], limit=limit + 1
            )
        ]
        next_cursor = encode_cursor(docs[limit - 1]["_id"]) if len(docs) > limit else None
        return Page(items=docs[:limit], next_cursor=next_cursor)

    # -- writes ------------------------------------------------------------------
    async def insert(
        self, tenant_id: str, document: Mapping[str, Any], events: Sequence[OutboxEvent] = ()
    ) -> Document:
        doc = self._scope(tenant_id, document)
        if events:
            doc[OUTBOX_FIELD] = self._outbox.entries(events)
            doc[OUTBOX_PENDING_FIELD] = True
            doc[OUTBOX_VERSION_FIELD] = 1
        try:
            await self._collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise DuplicateRecord(str(exc.details or exc)) from exc
        if events:
            self._signal()
        return _without_outbox(doc)

    async def update(
        self,
        tenant_id: str,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        events: Sequence[OutboxEvent] = (),
        *,
        upsert: bool = False,
    ) -> Document | None:
        """Apply ``update`` to one document and queue ``events`` in the same write.

        Returns the updated document, or None when nothing matched (a failed
        precondition: the caller turns that into a domain error).
        """
        scoped = self._scope(tenant_id, query)
        full: dict[str, Any] = {
            k: dict(v) if isinstance(v, Mapping) else v for k, v in update.items()
        }
        if upsert:
            full.setdefault("$setOnInsert", {})["tenant_id"] = tenant_id
            scoped_set = full.get("$set", {})
            scoped_set.pop("tenant_id", None)
        if events:
            full.setdefault("$push", {})[OUTBOX_FIELD] = {"$each": self._outbox.entries(events)}
            full.setdefault("$set", {})[OUTBOX_PENDING_FIELD] = True
            full.setdefault("$inc", {})[OUTBOX_VERSION_FIELD] = 1
        try:
            doc = await self._collection.find_one_and_update(
                scoped,
                full,
                return_document=ReturnDocument.AFTER,
                upsert=upsert,
            )
        except DuplicateKeyError as exc:
            raise DuplicateRecord(str(exc.details or exc)) from exc
        except OperationFailure as exc:
            # FerretDB 1.x reports a unique-index violation caused by an update as
            # InternalError (code 1) rather than 11000; MongoDB raises DuplicateKeyError.
            if "duplicate key" in str(exc).lower() or "UNIQUE constraint failed" in str(exc):
                raise DuplicateRecord(str(exc)) from exc
            raise
        if doc is not None and events:
            self._signal()
        # FerretDB 1.x has no projection on findAndModify; drop the outbox here instead.
        return _without_outbox(doc) if doc is not None else None

    async def apply_event(
        self,
        tenant_id: str,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        event_id: str,
        *,
        upsert: bool = False,
    ) -> bool:
        """Apply ``update`` for one event at most once, in one single-document write.

        The filter excludes documents that already list ``event_id`` and the update
        adds it, so a redelivery after a crash at any point (even between the write and
        the consumer's processed-marker) changes nothing. Returns False when the event
        had already been applied (or the document does not exist and ``upsert`` is off).
        """
        guarded = {**query, APPLIED_EVENTS_FIELD: {"$ne": event_id}}
        full: dict[str, Any] = {
            k: dict(v) if isinstance(v, Mapping) else v for k, v in update.items()
        }
        full.setdefault("$addToSet", {})[APPLIED_EVENTS_FIELD] = event_id
        try:
            return await self.update(tenant_id, guarded, full, upsert=upsert) is not None
        except DuplicateRecord:
            return False  # the upsert met the existing document, which has the event already

    async def project(
        self,
        tenant_id: str,
        record_id: Any,
        state: Mapping[str, Any],
        *,
        order_field: str,
        order_value: Any,
    ) -> bool:
        """Store another service's state of ``record_id`` in this read model, unless a
        newer state is already here.

        ``order_value`` orders the states (an aggregate version, or the event's time);
        a late, older event changes nothing, and re-applying the same one changes
        nothing either. Returns False when a newer state was kept. Every projection of
        another service's events goes through here (issue 16).
        """
        try:
            stored = await self.update(
                tenant_id,
                {
                    "_id": record_id,
                    # A document this service wrote itself (no order yet) takes the state.
                    "$or": [
                        {order_field: {"$lte": order_value}},
                        {order_field: {"$exists": False}},
                    ],
                },
                {"$set": {**state, order_field: order_value}},
                upsert=True,
            )
        except DuplicateRecord:
            # A newer state is stored: the filter found no older one to replace, so the
            # upsert tried to insert a second document with the same id.
            return False
        return stored is not None

    async def delete(self, tenant_id: str, query: Mapping[str, Any]) -> int:
        result = await self._collection.delete_one(self._scope(tenant_id, query))
        return result.deleted_count


def as_record(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document as an API shows it: ``id`` instead of ``_id``, no tenant (the
    caller's agency is in their token). The one record mapper every service uses."""
    shown = {k: v for k, v in doc.items() if k not in ("_id", "tenant_id")}
    shown["id"] = doc["_id"]
    return shown


def _without_outbox(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k not in _HIDE_OUTBOX}


_HIDE_OUTBOX = {
    OUTBOX_FIELD: 0,
    OUTBOX_PENDING_FIELD: 0,
    OUTBOX_VERSION_FIELD: 0,
    APPLIED_EVENTS_FIELD: 0,
}
