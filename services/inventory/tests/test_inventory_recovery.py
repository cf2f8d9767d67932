"""Postings on the real FerretDB (ADR 0500): the conditional reservation alone keeps the
balance from going negative; a crash between steps is repaired by recovery — reservations
without an entry are released, entries appended exactly once, credits applied once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from halcyon.inventory.domain.chain import verify_chain
from halcyon.inventory.store import (
    Balances,
    Deadlines,
    Discrepancies,
    DosingSessions,
    Ledger,
    Postings,
)
from halcyon.inventory.usecases.follow_ups import repair_count_follow_ups
from halcyon.inventory.usecases.posting import (
    DosingClaim,
    EntryDraft,
    LedgerWriter,
    Movement,
    Posting,
)
from halcyon.shared.events import ServiceEvents
from halcyon.shared.mongo import Document, OutboxEvent, OutboxWriter
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration
TENANT = "agency-recovery"
NOW = timedelta(0)
KEY = b"recovery-test-ledger-key"


# What ``runtime.event`` makes in the running service (inventory as the source).
outbox_event = ServiceEvents("inventory").event


class Crash(Exception):
    """Stands for the process dying at this point."""


class CrashingPostings(Postings):
    """Dies when the posting would move to ``crash_on_state``."""

    crash_on_state: str | None = None

    async def update(
        self,
        tenant_id: str,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        events: Sequence[OutboxEvent] = (),
        *,
        upsert: bool = False,
    ) -> Document | None:
        if update.get("$set", {}).get("state") == self.crash_on_state:
            raise Crash(self.crash_on_state)
        return await super().update(tenant_id, query, update, events, upsert=upsert)


class CrashingLedger(Ledger):
    crash_on_insert = False

    async def insert(
        self, tenant_id: str, document: Mapping[str, Any], events: Sequence[OutboxEvent] = ()
    ) -> Document:
        if self.crash_on_insert:
            raise Crash("append")
        return await super().insert(tenant_id, document, events)

    async def append_entries(self, tenant_id: str, entries: Sequence[Document]) -> int:
        if self.crash_on_insert:  # how the chain's appender writes entries (group commit)
            raise Crash("append")
        return await super().append_entries(tenant_id, entries)


@dataclass
class Books:
    postings: CrashingPostings
    balances: Balances
    ledger: CrashingLedger
    dosing: DosingSessions
    database: Any

    @property
    def writer(self) -> LedgerWriter:
        return LedgerWriter(
            self.postings, self.balances, self.ledger, self.dosing, key=KEY, events=outbox_event
        )

    @property
    def writer_without_precheck(self) -> LedgerWriter:
        return LedgerWriter(
            self.postings,
            self.balances,
            self.ledger,
            self.dosing,
            precheck=False,
            key=KEY,
            events=outbox_event,
        )

    async def balance(self) -> Document:
        doc = await self.balances.get(TENANT, "lot-1@safe-1")
        assert doc is not None
        return doc

    async def entries(self) -> list[Document]:
        return await self.ledger.chain(TENANT, "reg-1")


@pytest_asyncio.fixture
async def books(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[Books]:
    name = f"t_{uuid.uuid4().hex[:10]}_inventory_recovery"
    database = mongo_client[name]
    outbox = OutboxWriter("t.")
    found = Books(
        CrashingPostings(database, outbox),
        Balances(database, outbox),
        CrashingLedger(database, outbox),
        DosingSessions(database, outbox),
        database,
    )
    for repo in (found.postings, found.balances, found.ledger, found.dosing):
        await repo.ensure_indexes()
    yield found
    await mongo_client.drop_database(name)


def stock(quantity: int) -> Movement:
    """``quantity`` in micrograms (ADR 0502)."""
    return Movement("lot-1", "safe-1", quantity, "reg-1", "site-1", "prod-1", "MDMA")


def posting(kind: str, quantity: int, **kwargs: Any) -> Posting:
    op_id = str(uuid.uuid4())
    entry = EntryDraft("reg-1", {"kind": kind, "lot_id": "lot-1", "quantity_ug": quantity})
    return Posting(op_id, TENANT, [entry], **kwargs)


def dose(op: Posting, appointment_id: str) -> DosingClaim:
    return DosingClaim(appointment_id, "initial", 80, datetime.now(UTC), op.entry_id(0))


async def test_crash_after_reserving_releases_the_reservation_and_the_dosing_claim(
    books: Books,
) -> None:
    await books.writer.post(posting("receipt", 800, credits=[stock(800)]))
    op = posting("dispense", 80, debits=[stock(80)])
    op.dosing = dose(op, "appt-1")
    books.postings.crash_on_state = "appending"
    with pytest.raises(Crash):
        await books.writer.post(op)
    books.postings.crash_on_state = None
    assert (await books.balance())["qty_ug"] == 720  # reserved, not yet booked
    assert await books.dosing.get(TENANT, "appt-1") is not None

    # A live request is never second-guessed: within the grace period nothing happens.
    assert await books.writer.recover(timedelta(minutes=1)) == {
        "rolled_back": 0,
        "rolled_forward": 0,
    }
    assert await books.writer.recover(NOW) == {"rolled_back": 1, "rolled_forward": 0}
    balance = await books.balance()
    assert balance["qty_ug"] == 800
    assert balance["holds"] == []
    assert await books.dosing.get(TENANT, "appt-1") is None
    assert [e["kind"] for e in await books.entries()] == ["receipt"]
    assert (await books.postings.get(TENANT, op.op_id) or {})["state"] == "rolled_back"
    # Recovery is idempotent.
    assert await books.writer.recover(NOW) == {"rolled_back": 0, "rolled_forward": 0}
    assert (await books.balance())["qty_ug"] == 800


async def test_crash_while_appending_is_rolled_forward_exactly_once(books: Books) -> None:
    await books.writer.post(posting("receipt", 800, credits=[stock(800)]))
    op = posting("dispense", 80, debits=[stock(80)])
    books.ledger.crash_on_insert = True
    with pytest.raises(Crash):
        await books.writer.post(op)
    books.ledger.crash_on_insert = False

    assert await books.writer.recover(NOW) == {"rolled_back": 0, "rolled_forward": 1}
    assert await books.writer.recover(NOW) == {"rolled_back": 0, "rolled_forward": 0}
    entries = await books.entries()
    assert [e["kind"] for e in entries] == ["receipt", "dispense"]
    assert entries[1]["_id"] == op.entry_id(0)
    assert verify_chain(entries, KEY).intact
    balance = await books.balance()
    assert balance["qty_ug"] == 720
    assert balance["holds"] == []


async def test_crash_after_crediting_does_not_credit_twice(books: Books) -> None:
    op = posting("receipt", 800, credits=[stock(800)])
    books.postings.crash_on_state = "done"
    with pytest.raises(Crash):
        await books.writer.post(op)
    books.postings.crash_on_state = None
    assert (await books.balance())["qty_ug"] == 800

    assert await books.writer.recover(NOW) == {"rolled_back": 0, "rolled_forward": 1}
    assert (await books.balance())["qty_ug"] == 800
    assert len(await books.entries()) == 1


async def test_the_conditional_reservation_alone_never_oversells(books: Books) -> None:
    """Without the read-before-write shortcut every request races on the balance."""
    await books.writer.post(posting("receipt", 400, credits=[stock(400)]))
    writer = books.writer_without_precheck
    ops = [posting("dispense", 40, debits=[stock(40)]) for _ in range(50)]
    for n, op in enumerate(ops):
        op.dosing = dose(op, f"appt-{n}")
    results = await asyncio.gather(*[writer.post(op) for op in ops], return_exceptions=True)
    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {"list": 10, "Conflict": 40}
    balance = await books.balance()
    assert balance["qty_ug"] == 0
    assert balance["holds"] == []
    entries = await books.entries()
    assert [e["seq"] for e in entries] == list(range(1, 12))
    assert verify_chain(entries, KEY).intact
    assert await books.dosing.count(TENANT) == 10


async def test_a_count_whose_discrepancy_was_cut_off_is_repaired(books: Books) -> None:
    discrepancies, deadlines = Discrepancies(books.database), Deadlines(books.database)
    for repo in (discrepancies, deadlines):
        await repo.ensure_indexes()
    op_id = str(uuid.uuid4())
    count = EntryDraft(
        "reg-1",
        {
            "kind": "count",
            "site_id": "site-1",
            "lot_id": "lot-1",
            "location_id": "safe-1",
            "book_ug": 680_000,
            "counted_ug": 600_000,
            "counted_by": "nurse",
            "discrepancy_id": f"{op_id}-d",
            "suspected_theft_or_loss": True,
        },
    )
    # The count entry is booked, then the process dies before the follow-up.
    await books.writer.post(Posting(op_id, TENANT, [count]))
    since = datetime.now(UTC) - timedelta(days=7)
    recent = await books.ledger.counts_with_discrepancy_since(since)
    assert await repair_count_follow_ups(recent, discrepancies, deadlines, outbox_event) == 1
    opened = await discrepancies.get(TENANT, f"{op_id}-d")
    assert opened is not None
    assert (opened["expected_ug"], opened["counted_ug"]) == (680_000, 600_000)
    assert {d["kind"] for d in await deadlines.find(TENANT)} == {
        "dea_theft_loss_notice",
        "dea_form_106",
    }
    # Repairing again changes nothing.
    assert await repair_count_follow_ups(recent, discrepancies, deadlines, outbox_event) == 0
    assert await deadlines.count(TENANT) == 2
