"""Single-document atomicity under concurrent writers, on the real MongoDB-wire server.

Stock FerretDB 1.x races read-modify-write commands; the local build serializes write
commands (deploy/local/ferretdb/halcyon_serialize_writes.go), per collection on
PostgreSQL and per database on SQLite. Every stock-keeping rule in the services (a
dose is never sold twice, a slot is never double-booked) rests on these counts being
exact, whichever scope the lock has: writers of one collection, and writers of two
collections of one database at the same time.
"""

from __future__ import annotations

import asyncio

import pytest
from halcyon.shared.mongo import Document
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

pytestmark = pytest.mark.integration

STOCK = 10
BUYERS = 50


async def conditional_decrements(stock: AsyncCollection[Document], buyers: int) -> int:
    """`buyers` concurrent "take one if any is left"; returns how many succeeded."""

    async def take_one() -> int:
        result = await stock.update_one(
            {"_id": "lot", "qty": {"$gte": 1}}, {"$inc": {"qty": -1, "sold": 1}}
        )
        return result.modified_count

    return sum(await asyncio.gather(*(take_one() for _ in range(buyers))))


async def fill(stock: AsyncCollection[Document]) -> None:
    await stock.insert_one({"_id": "lot", "qty": STOCK, "sold": 0})


async def test_one_collection_never_sells_more_than_it_holds(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    stock = mongo_client[f"atomic_{unique}"]["stock"]
    await fill(stock)

    assert await conditional_decrements(stock, BUYERS) == STOCK
    assert await stock.find_one({"_id": "lot"}) == {"_id": "lot", "qty": 0, "sold": STOCK}


async def test_two_collections_of_one_database_each_stay_exact(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    db = mongo_client[f"atomic_{unique}"]
    vials, syringes = db["vials"], db["syringes"]
    await fill(vials)
    await fill(syringes)

    sold = await asyncio.gather(
        conditional_decrements(vials, BUYERS),
        conditional_decrements(syringes, BUYERS),
        conditional_decrements(vials, BUYERS),
    )

    assert sold[0] + sold[2] == STOCK
    assert sold[1] == STOCK
    for stock in (vials, syringes):
        assert await stock.find_one({"_id": "lot"}) == {"_id": "lot", "qty": 0, "sold": STOCK}


async def test_concurrent_claims_hand_out_each_document_once(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    """find_one_and_update as a work queue: no job is claimed by two workers."""
    db = mongo_client[f"atomic_{unique}"]
    jobs, other = db["jobs"], db["other_jobs"]
    for queue in (jobs, other):
        await queue.insert_many([{"_id": f"job-{i}", "claimed_by": None} for i in range(20)])

    async def claim(queue: AsyncCollection[Document], worker: int) -> str | None:
        job = await queue.find_one_and_update(
            {"claimed_by": None},
            {"$set": {"claimed_by": worker}},
            return_document=ReturnDocument.AFTER,
        )
        return None if job is None else str(job["_id"])

    claimed = await asyncio.gather(
        *(claim(queue, worker) for worker in range(30) for queue in (jobs, other))
    )

    jobs_claimed = [c for c in claimed[0::2] if c is not None]
    other_claimed = [c for c in claimed[1::2] if c is not None]
    assert sorted(jobs_claimed) == sorted(set(jobs_claimed))
    assert len(jobs_claimed) == 20
    assert sorted(other_claimed) == sorted(set(other_claimed))
    assert len(other_claimed) == 20
