"""Tenant isolation in the repository base, on the real MongoDB-wire server."""

from __future__ import annotations

import pytest
from halcyon.shared.mongo import Document, DuplicateRecord, TenantRepository, TenantScopeError
from pymongo import ASCENDING, AsyncMongoClient, IndexModel

pytestmark = pytest.mark.integration


class Notes(TenantRepository):
    collection_name = "notes"


@pytest.fixture
async def notes(mongo_client: AsyncMongoClient[Document], unique: str) -> Notes:
    repo = Notes(mongo_client[f"t_{unique}_shared"])
    await repo.ensure_indexes()
    return repo


@pytest.mark.parametrize("tenant", [None, "", "   "])
async def test_a_query_without_a_tenant_fails_loudly(notes: Notes, tenant: object) -> None:
    with pytest.raises(TenantScopeError):
        await notes.find(tenant, {})  # type: ignore[arg-type]
    with pytest.raises(TenantScopeError):
        await notes.get(tenant, "n1")  # type: ignore[arg-type]
    with pytest.raises(TenantScopeError):
        await notes.insert(tenant, {"_id": "n1"})  # type: ignore[arg-type]
    with pytest.raises(TenantScopeError):
        await notes.update(tenant, {"_id": "n1"}, {"$set": {"x": 1}})  # type: ignore[arg-type]
    with pytest.raises(TenantScopeError):
        await notes.delete(tenant, {"_id": "n1"})  # type: ignore[arg-type]


async def test_a_filter_naming_another_tenant_fails_loudly(notes: Notes) -> None:
    with pytest.raises(TenantScopeError):
        await notes.find("agency-a", {"tenant_id": "agency-b"})


async def test_two_tenants_documents_never_mix(notes: Notes) -> None:
    await notes.insert("agency-a", {"_id": "a1", "text": "A's"})
    await notes.insert("agency-b", {"_id": "b1", "text": "B's"})
    assert [d["_id"] for d in await notes.find("agency-a")] == ["a1"]
    assert [d["_id"] for d in await notes.find("agency-b")] == ["b1"]
    assert await notes.get("agency-a", "b1") is None
    # Updates and deletes across tenants touch nothing.
    assert await notes.update("agency-a", {"_id": "b1"}, {"$set": {"text": "hijacked"}}) is None
    assert await notes.delete("agency-a", {"_id": "b1"}) == 0
    assert (await notes.get("agency-b", "b1") or {})["text"] == "B's"
    # An insert cannot smuggle another tenant in.
    with pytest.raises(TenantScopeError):
        await notes.insert("agency-a", {"_id": "x", "tenant_id": "agency-b"})


async def test_pages_follow_the_cursor_without_gaps_or_repeats(notes: Notes) -> None:
    for i in range(7):
        await notes.insert("agency-a", {"_id": f"n{i}"})
    await notes.insert("agency-b", {"_id": "other"})
    seen: list[str] = []
    cursor = None
    while True:
        page = await notes.page("agency-a", limit=3, cursor=cursor)
        seen += [d["_id"] for d in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"n{i}" for i in range(7)]


class Codes(TenantRepository):
    collection_name = "codes"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("code", ASCENDING)], unique=True),)


async def test_a_unique_index_violation_is_a_duplicate_record_on_insert_and_update(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    codes = Codes(mongo_client[f"t_{unique}_shared"])
    await codes.ensure_indexes()
    await codes.insert("agency-a", {"_id": "a", "code": "X"})
    await codes.insert("agency-a", {"_id": "b", "code": "Y"})
    await codes.insert("agency-b", {"_id": "c", "code": "X"})  # another agency may reuse it
    with pytest.raises(DuplicateRecord):
        await codes.insert("agency-a", {"_id": "d", "code": "X"})
    with pytest.raises(DuplicateRecord):
        await codes.update("agency-a", {"_id": "b"}, {"$set": {"code": "X"}})
    assert (await codes.get("agency-a", "b") or {})["code"] == "Y"


async def test_an_event_applied_through_apply_event_changes_a_document_once(notes: Notes) -> None:
    for _ in range(3):  # redelivered three times
        await notes.apply_event(
            "agency-a", {"_id": "n1"}, {"$inc": {"seen": 1}}, "ev-1", upsert=True
        )
    assert await notes.apply_event("agency-a", {"_id": "n1"}, {"$inc": {"seen": 1}}, "ev-2") is True
    assert (
        await notes.apply_event("agency-a", {"_id": "n1"}, {"$inc": {"seen": 1}}, "ev-2") is False
    )
    doc = await notes.get("agency-a", "n1")
    assert doc is not None
    assert doc["seen"] == 2
    assert "_applied_events" not in doc  # bookkeeping stays out of what callers read


async def test_a_projection_keeps_the_newest_state_whatever_order_events_arrive(
    notes: Notes,
) -> None:
    v2 = {"name": "Second", "site_id": "north"}
    assert await notes.project("agency-a", "c1", v2, order_field="version", order_value=2)
    late_v1 = {"name": "First", "site_id": "south"}
    assert not await notes.project("agency-a", "c1", late_v1, order_field="version", order_value=1)
    assert await notes.project("agency-a", "c1", v2, order_field="version", order_value=2)
    doc = await notes.get("agency-a", "c1")
    assert doc is not None
    assert (doc["name"], doc["site_id"], doc["version"]) == ("Second", "north", 2)


async def test_a_projection_fills_in_a_document_the_service_wrote_itself(notes: Notes) -> None:
    await notes.insert("agency-a", {"_id": "site-1", "opening_hours": "9-17"})
    state = {"name": "North clinic"}
    assert await notes.project("agency-a", "site-1", state, order_field="at", order_value=5)
    doc = await notes.get("agency-a", "site-1")
    assert doc is not None
    assert (doc["name"], doc["opening_hours"], doc["at"]) == ("North clinic", "9-17", 5)
