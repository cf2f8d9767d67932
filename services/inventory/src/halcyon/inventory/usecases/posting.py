"""Posting to the ledger without multi-document transactions (ADR 0500).

One business operation (a dispense, a receipt, a transfer…) touches several
documents: balances, one or two ledger chains, maybe a dosing session. Each step
is a single-document conditional write, and a ``postings`` document keyed by the
operation id records what the operation is, so a crash at any point is repaired:

1. ``postings`` insert, state ``pending`` (what will be debited, credited, appended).
2. reserve every debit: ``{_id: balance, qty_ug: {$gte: q}}`` → ``$inc -q`` and
   ``$push holds: op``. The condition is why a balance can never go negative.
3. claim the dosing slot (initial dose: insert keyed by appointment; supplemental:
   conditional set) — refused if already taken.
4. compare-and-set ``pending → appending``: the point of no return.
5. append each ledger entry: insert ``seq = head + 1`` under a unique
   ``(tenant, registration, seq)`` index; a duplicate means someone else appended
   first, so re-read the head and retry. The entry id is derived from the
   operation, so a repeated append finds the entry instead of duplicating it.
6. apply credits (``credited: {$ne: op}`` → ``$inc +q``), release holds, ``done``.

Recovery (at start-up and periodically) takes operations older than a grace
period: ``pending`` ones are rolled back (holds released, dosing claim undone) —
the caller never got a success, so nothing is recorded; ``appending`` ones are
rolled forward (steps 5-6 again, all idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from halcyon.inventory.domain.chain import (
    CHAIN_VERSION,
    GENESIS,
    entry_hash,
    truncate_to_millis,
)
from halcyon.inventory.domain.quantities import mg_float, mg_text
from halcyon.inventory.runtime import (
    ChainQueue,
    ChainTips,
    EventMaker,
    InventoryRuntime,
    RequestReads,
)
from halcyon.inventory.store import Balances, DosingSessions, Ledger, Postings
from halcyon.shared.contracts.inventory import StockLow
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import Conflict, Unavailable
from halcyon.shared.mongo import Document, DuplicateRecord, OutboxEvent

log = logging.getLogger("halcyon.inventory.usecases.posting")
APPEND_ATTEMPTS = 200
# Entries one ordered insert may carry (a chain's appender takes at most this many).
APPEND_BATCH = 64


def balance_id(lot_id: str, location_id: str) -> str:
    return f"{lot_id}@{location_id}"


@dataclass(frozen=True)
class Movement:
    lot_id: str
    location_id: str
    quantity_ug: int  # exact micrograms (ADR 0502)
    registration_id: str
    site_id: str
    product_id: str
    substance: str
    low_stock_threshold_ug: int = 0

    @property
    def balance_id(self) -> str:
        return balance_id(self.lot_id, self.location_id)


@dataclass
class EntryDraft:
    registration_id: str
    body: dict[str, Any]
    events: list[OutboxEvent] = field(default_factory=list)


@dataclass(frozen=True)
class DosingClaim:
    appointment_id: str
    kind: str  # initial | supplemental
    quantity_ug: int
    administered_at: datetime
    entry_id: str


@dataclass
class Posting:
    op_id: str
    tenant_id: str
    entries: list[EntryDraft]
    debits: list[Movement] = field(default_factory=list)
    credits: list[Movement] = field(default_factory=list)
    dosing: DosingClaim | None = None

    def entry_id(self, index: int) -> str:
        return entry_id(self.op_id, index)


def entry_id(op_id: str, index: int) -> str:
    return f"{op_id}-{index}"


def _movement_doc(m: Movement) -> Document:
    return {
        "lot_id": m.lot_id,
        "location_id": m.location_id,
        "quantity_ug": m.quantity_ug,
        "registration_id": m.registration_id,
        "site_id": m.site_id,
        "product_id": m.product_id,
        "substance": m.substance,
        "low_stock_threshold_ug": m.low_stock_threshold_ug,
    }


def _movement(doc: Document) -> Movement:
    return Movement(**{k: doc[k] for k in Movement.__dataclass_fields__})


def _entry_doc(draft: EntryDraft) -> Document:
    return {
        "registration_id": draft.registration_id,
        "body": draft.body,
        "events": [
            {"topic": e.topic, "envelope": e.envelope.model_dump(mode="json")} for e in draft.events
        ],
    }


def _draft(doc: Document) -> EntryDraft:
    return EntryDraft(
        registration_id=doc["registration_id"],
        body=dict(doc["body"]),
        events=[
            OutboxEvent(EventEnvelope.model_validate(e["envelope"]), e["topic"])
            for e in doc["events"]
        ],
    )


def ledger_writer(runtime: InventoryRuntime) -> LedgerWriter:
    """The ledger writer of a running service: its chain tips, key and event source."""
    return LedgerWriter(
        runtime.repo(Postings),
        runtime.repo(Balances),
        runtime.repo(Ledger),
        runtime.repo(DosingSessions),
        tips=runtime.parts.chain_tips,
        key=runtime.settings.ledger_key_bytes,
        events=runtime.event,
    )


class LedgerWriter:
    def __init__(
        self,
        postings: Postings,
        balances: Balances,
        ledger: Ledger,
        dosing: DosingSessions,
        *,
        precheck: bool = True,
        tips: ChainTips | None = None,
        key: bytes,
        events: EventMaker,
    ) -> None:
        self._events = events  # enveloped with inventory as the source (runtime.event)
        self._key = key  # the chain's HMAC key (ADR 0503), never stored in the database
        self._tips = tips or ChainTips()
        self._precheck = precheck
        self._postings = postings
        self._balances = balances
        self._ledger = ledger
        self._dosing = dosing

    # -- the request path -------------------------------------------------------------
    async def post(self, posting: Posting, reads: RequestReads | None = None) -> list[Document]:
        tenant = posting.tenant_id
        # Fast refusal without writing anything when the stock is plainly short. Only an
        # optimisation: the conditional reservation below is what guarantees the rule
        # (so the read may be one a concurrent request sent, ``SharedReads``).
        for m in posting.debits if self._precheck else []:
            balance = await self._balance(tenant, m.balance_id, reads)
            if balance is None or int(balance["qty_ug"]) < m.quantity_ug:
                raise _insufficient(m)
        now = datetime.now(UTC)
        await self._postings.insert(
            tenant,
            {
                "_id": posting.op_id,
                "state": "pending",
                "created_at": now,
                "debits": [_movement_doc(m) for m in posting.debits],
                "credits": [_movement_doc(m) for m in posting.credits],
                "entries": [_entry_doc(d) for d in posting.entries],
                "dosing": _dosing_doc(posting.dosing),
            },
        )
        try:
            # Stock first: it is what concurrent requests contend for, and a refusal
            # there then has no dosing claim to undo.
            alerts = await self._reserve(tenant, posting.op_id, posting.debits)
            await self._claim_dosing(tenant, posting.op_id, posting.dosing)
        except _NothingReserved as refused:
            # The first reservation was refused: nothing was reserved or claimed, so there
            # is nothing to undo, only the posting to close (one write instead of four).
            await self._postings.update(
                tenant,
                {"_id": posting.op_id, "state": "pending"},
                {"$set": {"state": "rolled_back", "done_at": datetime.now(UTC)}},
            )
            raise refused.refusal from None
        except Conflict:
            await self._roll_back(tenant, posting.op_id)
            raise
        if alerts and posting.entries:
            posting.entries[0].events.extend(alerts)
        advanced = await self._postings.update(
            tenant,
            {"_id": posting.op_id, "state": "pending"},
            {"$set": {"state": "appending", "entries": [_entry_doc(d) for d in posting.entries]}},
        )
        if advanced is None:
            # Recovery judged this operation abandoned and rolled it back; undo whatever
            # this request reserved after that (every undo step is idempotent).
            op = await self._postings.get(tenant, posting.op_id)
            if op is not None:
                await self._undo(tenant, op)
            raise Unavailable("the operation took too long and was undone; please retry")
        return await self._finish(advanced)

    async def _balance(
        self, tenant: str, balance_id: str, reads: RequestReads | None
    ) -> Document | None:
        if reads is None:
            return await self._balances.get(tenant, balance_id)
        key = (Balances.collection_name, tenant, balance_id)
        return await reads.read(key, lambda: self._balances.get(tenant, balance_id))

    async def _claim_dosing(self, tenant: str, op_id: str, claim: DosingClaim | None) -> None:
        if claim is None:
            return
        given = {
            "op": op_id,
            "entry_id": claim.entry_id,
            "quantity_ug": claim.quantity_ug,
            "administered_at": claim.administered_at,
        }
        if claim.kind == "initial":
            try:
                await self._dosing.insert(tenant, {"_id": claim.appointment_id, "initial": given})
            except DuplicateRecord:
                raise Conflict(
                    "this appointment already had its initial dose",
                    appointment_id=claim.appointment_id,
                ) from None
            return
        taken = await self._dosing.update(
            tenant,
            {
                "_id": claim.appointment_id,
                "initial": {"$exists": True},
                "supplemental": {"$exists": False},
            },
            {"$set": {"supplemental": given}},
        )
        if taken is None:
            raise Conflict(
                "this appointment has no initial dose or already had its supplemental dose",
                appointment_id=claim.appointment_id,
            )

    async def _reserve(self, tenant: str, op_id: str, debits: list[Movement]) -> list[OutboxEvent]:
        alerts: list[OutboxEvent] = []
        for index, m in enumerate(debits):
            after = await self._balances.update(
                tenant,
                {"_id": m.balance_id, "qty_ug": {"$gte": m.quantity_ug}},
                {"$inc": {"qty_ug": -m.quantity_ug}, "$push": {"holds": op_id}},
            )
            if after is None:
                raise _NothingReserved(_insufficient(m)) if index == 0 else _insufficient(m)
            remaining = int(after["qty_ug"])
            threshold = m.low_stock_threshold_ug
            if threshold > 0 and remaining < threshold <= remaining + m.quantity_ug:
                event = StockLow(
                    lot_id=m.lot_id,
                    site_id=m.site_id,
                    product_id=m.product_id,
                    substance=m.substance,
                    balance=mg_float(remaining),
                    threshold=mg_float(threshold),
                    balance_ug=remaining,
                    threshold_ug=threshold,
                )
                alerts.append(self._events(event, tenant_id=tenant))
        return alerts

    async def _finish(self, op: Document) -> list[Document]:
        tenant = op["tenant_id"]
        appended = []
        for index, raw in enumerate(op["entries"]):
            appended.append(await self._append(tenant, entry_id(op["_id"], index), _draft(raw)))
        for raw in op["credits"]:
            m = _movement(raw)
            # DuplicateRecord: already credited by an earlier attempt (no match → insert).
            with contextlib.suppress(DuplicateRecord):
                await self._balances.update(
                    tenant,
                    {"_id": m.balance_id, "credited": {"$ne": op["_id"]}},
                    {
                        "$inc": {"qty_ug": m.quantity_ug},
                        "$push": {"credited": op["_id"]},
                        "$setOnInsert": {
                            "lot_id": m.lot_id,
                            "location_id": m.location_id,
                            "registration_id": m.registration_id,
                            "site_id": m.site_id,
                            "product_id": m.product_id,
                            "holds": [],
                        },
                    },
                    upsert=True,
                )
        for raw in op["debits"]:
            m = _movement(raw)
            await self._balances.update(
                tenant, {"_id": m.balance_id, "holds": op["_id"]}, {"$pull": {"holds": op["_id"]}}
            )
        await self._postings.update(
            tenant, {"_id": op["_id"]}, {"$set": {"state": "done", "done_at": datetime.now(UTC)}}
        )
        return appended

    async def _append(self, tenant: str, entry_id: str, draft: EntryDraft) -> Document:
        """Queue the entry on its chain and wait for the chain's appender to write it."""
        registration = draft.registration_id
        queue = self._tips.queue(tenant, registration)
        answer: asyncio.Future[Document] = asyncio.get_running_loop().create_future()
        # The outbox fields are made here, in the request's own task (its trace context).
        outbox = self._ledger.outbox_fields(draft.events)
        queue.waiting.append(_Waiting(entry_id, draft, outbox, answer))
        if queue.appender is None or queue.appender.done():
            queue.appender = asyncio.create_task(self._appender(tenant, registration, queue))
        return await answer

    async def _appender(self, tenant: str, registration: str, queue: ChainQueue) -> None:
        """One per chain and process: appends whatever waits, a batch at a time, until
        nothing does (group commit). Every waiting request gets its own answer."""
        while queue.waiting:
            batch: list[_Waiting] = queue.waiting[:APPEND_BATCH]
            try:
                await self._append_batch(tenant, registration, batch)
            except Exception as error:
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
            except BaseException:
                # Cancelled (shutdown): the postings stay ``appending``; recovery appends.
                for waiting in queue.waiting:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(Unavailable("the service is stopping"))
                queue.waiting.clear()
                raise
            del queue.waiting[: len(batch)]

    async def _append_batch(self, tenant: str, registration: str, batch: list[_Waiting]) -> None:
        """Append ``batch`` as consecutive entries after the chain's head in one ordered
        insert. A duplicate stops the insert where it happened: the entries before it are
        in; another instance took that sequence number (re-read the head, redo the rest)
        or the entry was appended before (recovery, an earlier attempt: found, not
        duplicated — the entry id is derived from the operation)."""
        todo = list(batch)
        for attempt in range(APPEND_ATTEMPTS):
            head = self._tips.tip(tenant, registration)
            if head is None:
                head = await self._ledger.head(tenant, registration)
            docs = []
            for waiting in todo:
                head = self._entry(tenant, registration, waiting, head)
                docs.append(head)
            written = await self._ledger.append_entries(
                tenant, [{**doc, **w.outbox} for doc, w in zip(docs, todo, strict=True)]
            )
            for waiting, doc in zip(todo[:written], docs, strict=False):
                _answer(waiting, doc)
            if written == len(todo):
                self._tips.remember(tenant, registration, docs[-1])
                return
            self._tips.remember(tenant, registration, None)
            todo = todo[written:]
            ids = [w.entry_id for w in todo]
            found = {
                doc["_id"]: doc for doc in await self._ledger.find(tenant, {"_id": {"$in": ids}})
            }
            for waiting in todo:
                if waiting.entry_id in found:
                    _answer(waiting, found[waiting.entry_id])
            todo = [w for w in todo if w.entry_id not in found]
            if not todo:
                return
            jitter = random.uniform(0, 0.005 * min(attempt + 1, 20))  # noqa: S311 (a backoff, not a secret)
            await asyncio.sleep(jitter)
        raise Unavailable("the ledger is too busy to append right now; please retry")

    def _entry(
        self, tenant: str, registration: str, waiting: _Waiting, head: Document | None
    ) -> Document:
        """The entry after ``head``: its sequence number, ``prev_hash`` and keyed hash."""
        doc: Document = {
            **waiting.draft.body,
            "_id": waiting.entry_id,
            "tenant_id": tenant,
            "registration_id": registration,
            "seq": (int(head["seq"]) + 1) if head else 1,
            "prev_hash": head["hash"] if head else GENESIS,
            "recorded_at": truncate_to_millis(datetime.now(UTC)),
            "chain_version": CHAIN_VERSION,
        }
        doc["hash"] = entry_hash(doc, self._key)
        return doc

    # -- undo and recovery -------------------------------------------------------------
    async def _roll_back(self, tenant: str, op_id: str) -> None:
        op = await self._postings.update(
            tenant,
            {"_id": op_id, "state": {"$in": ["pending", "rolling_back"]}},
            {"$set": {"state": "rolling_back"}},
        )
        if op is None:
            return
        await self._undo(tenant, op)
        await self._postings.update(
            tenant, {"_id": op_id}, {"$set": {"state": "rolled_back", "done_at": datetime.now(UTC)}}
        )

    async def _undo(self, tenant: str, op: Document) -> None:
        op_id = op["_id"]
        for raw in op["debits"]:
            m = _movement(raw)
            await self._balances.update(
                tenant,
                {"_id": m.balance_id, "holds": op_id},
                {"$inc": {"qty_ug": m.quantity_ug}, "$pull": {"holds": op_id}},
            )
        dosing = op.get("dosing")
        if dosing:
            if dosing["kind"] == "initial":
                await self._dosing.delete(
                    tenant, {"_id": dosing["appointment_id"], "initial.op": op_id}
                )
            else:
                await self._dosing.update(
                    tenant,
                    {"_id": dosing["appointment_id"], "supplemental.op": op_id},
                    {"$unset": {"supplemental": ""}},
                )

    async def recover(self, grace: timedelta) -> dict[str, int]:
        """Finish or undo operations a crash left behind (older than ``grace``)."""
        before = datetime.now(UTC) - grace
        outcome = {"rolled_back": 0, "rolled_forward": 0}
        for op in await self._postings.stale(before, ["pending", "rolling_back", "appending"]):
            tenant = op["tenant_id"]
            try:
                if op["state"] == "appending":
                    await self._finish(op)
                    outcome["rolled_forward"] += 1
                else:
                    await self._roll_back(tenant, op["_id"])
                    outcome["rolled_back"] += 1
            except Exception:
                log.exception("could not recover ledger operation %s", op["_id"])
        if any(outcome.values()):
            log.warning("ledger recovery: %s", outcome)
        return outcome


@dataclass
class _Waiting:
    """An entry waiting for its chain's appender, and where its requester waits."""

    entry_id: str
    draft: EntryDraft
    outbox: Document
    answer: asyncio.Future[Document]


def _answer(waiting: _Waiting, entry: Document) -> None:
    if not waiting.answer.done():  # done: its requester was cancelled meanwhile
        waiting.answer.set_result(entry)


class _NothingReserved(Exception):
    """The first debit was refused: the operation wrote nothing but its posting."""

    def __init__(self, refusal: Conflict) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def _insufficient(m: Movement) -> Conflict:
    return Conflict(
        f"insufficient stock: lot {m.lot_id} at location {m.location_id} holds less than"
        f" {mg_text(m.quantity_ug)} mg",
        lot_id=m.lot_id,
        location_id=m.location_id,
    )


def _dosing_doc(claim: DosingClaim | None) -> Document | None:
    if claim is None:
        return None
    return {
        "appointment_id": claim.appointment_id,
        "kind": claim.kind,
        "quantity_ug": claim.quantity_ug,
        "administered_at": claim.administered_at,
        "entry_id": claim.entry_id,
    }
