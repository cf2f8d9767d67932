"""Interchange control numbers never repeat, even when batches run at the same time."""

from __future__ import annotations

import asyncio

import pytest
from halcyon.billing.store import Counters
from halcyon.shared.mongo import Document
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


async def test_concurrent_control_numbers_are_unique_and_per_tenant(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    counters = Counters(mongo_client[f"t_{unique}_billing_counters"])
    await counters.ensure_indexes()
    numbers = await asyncio.gather(*[counters.next("agency-a", "interchange") for _ in range(30)])
    assert sorted(numbers) == list(range(1, 31))
    assert await counters.next("agency-b", "interchange") == 1
    assert await counters.next("agency-a", "claim") == 1
