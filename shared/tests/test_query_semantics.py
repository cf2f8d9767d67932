"""MongoDB query semantics the services rely on, on the real MongoDB-wire server.

The local FerretDB is built with patches that push equality filters down to SQLite
(deploy/local/ferretdb/halcyon_pushdown.go) and to PostgreSQL (the default backend,
halcyon_pushdown_postgresql.go). A pushed-down clause may return extra rows (FerretDB
re-checks them) but must never lose one; these cases are the ones a naive
"field = value" clause would get wrong. They pass on both backends
(HALCYON_MONGO_BACKEND=sqlite|postgresql), and the lookups every repository makes are
answered from an index on both.
"""

from __future__ import annotations

import pytest
from halcyon.shared.mongo import Document
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

Claims = AsyncCollection[Document]

pytestmark = pytest.mark.integration

DOCS: list[Document] = [
    {"_id": "plain", "tenant_id": "t1", "appointment_id": "a1", "n": 1},
    {"_id": "other-tenant", "tenant_id": "t2", "appointment_id": "a1", "n": 2},
    # Equality on a field also matches an array holding the value.
    {"_id": "array-field", "tenant_id": "t1", "appointment_id": ["a0", "a1"], "n": 3},
    {"_id": "array-tenant", "tenant_id": ["t0", "t1"], "appointment_id": "a1", "n": 4},
    # Values JSON escapes (or that are not strings) are left to FerretDB itself.
    {"_id": "escaped", "tenant_id": "t1", "appointment_id": 'a<1>&"q"', "n": 5},
    {"_id": "unicode", "tenant_id": "t1", "appointment_id": "Zoë", "n": 6},
    {"_id": "number", "tenant_id": "t1", "appointment_id": 1, "n": 7},
    {"_id": "missing", "tenant_id": "t1", "n": 8},
]


@pytest.fixture(params=["indexed", "unindexed"])
async def claims(
    request: pytest.FixtureRequest, mongo_client: AsyncMongoClient[Document], unique: str
) -> Claims:
    collection = mongo_client[f"q_{unique}_shared"][f"claims_{request.param}"]
    if request.param == "indexed":
        await collection.create_index([("tenant_id", ASCENDING), ("appointment_id", ASCENDING)])
    await collection.insert_many([dict(d) for d in DOCS])
    return collection


async def ids(collection: Claims, query: Document) -> list[str]:
    return sorted([d["_id"] async for d in collection.find(query)])


async def test_equality_matches_scalars_and_array_elements(claims: Claims) -> None:
    assert await ids(claims, {"tenant_id": "t1", "appointment_id": "a1"}) == [
        "array-field",
        "array-tenant",
        "plain",
    ]
    assert await ids(claims, {"appointment_id": {"$eq": "a0"}}) == ["array-field"]
    assert await ids(claims, {"tenant_id": "t1", "appointment_id": {"$in": ["a0", "Zoë"]}}) == [
        "array-field",
        "unicode",
    ]


async def test_values_json_would_escape_still_match(claims: Claims) -> None:
    assert await ids(claims, {"tenant_id": "t1", "appointment_id": 'a<1>&"q"'}) == ["escaped"]
    assert await ids(claims, {"tenant_id": "t1", "appointment_id": "Zoë"}) == ["unicode"]
    assert await ids(claims, {"tenant_id": "t1", "appointment_id": 1}) == ["number"]
    assert await ids(claims, {"tenant_id": "t1", "appointment_id": None}) == ["missing"]


async def test_id_lookups_with_other_fields(claims: Claims) -> None:
    assert await ids(claims, {"_id": "plain", "tenant_id": "t1"}) == ["plain"]
    assert await ids(claims, {"_id": "plain", "tenant_id": "t2"}) == []
    assert await ids(claims, {"_id": {"$in": ["plain", "other-tenant", "nope"]}}) == [
        "other-tenant",
        "plain",
    ]


async def test_writes_and_counts_select_the_same_documents(claims: Claims) -> None:
    c = claims
    query = {"tenant_id": "t1", "appointment_id": "a1"}
    assert await c.count_documents(query) == 3
    updated = await c.update_many(query, {"$inc": {"n": 100}})
    assert updated.modified_count == 3
    assert await ids(c, {"n": {"$gte": 100}}) == ["array-field", "array-tenant", "plain"]
    deleted = await c.delete_many({"tenant_id": "t1", "appointment_id": {"$in": ["a0"]}})
    assert deleted.deleted_count == 1
    assert await ids(c, {"tenant_id": "t1", "appointment_id": "a1"}) == ["array-tenant", "plain"]


async def test_repository_lookups_are_answered_from_an_index(
    mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    """A get by {_id, tenant_id} and a find by {tenant_id, appointment_id} use the indexes.

    Without it the answers stay right but every lookup reads the whole collection
    (stock FerretDB on SQLite) or misses the expression index (stock on PostgreSQL).
    """
    db = mongo_client[f"q_{unique}_plans"]
    claims = db["claims"]
    await claims.create_index([("tenant_id", ASCENDING), ("appointment_id", ASCENDING)])
    await claims.insert_many(
        [{"_id": f"c{i}", "tenant_id": f"t{i % 4}", "appointment_id": f"a{i}"} for i in range(2000)]
    )

    async def plan(query: Document) -> str:
        explained = await db.command("explain", {"find": "claims", "filter": query})
        return str(explained["queryPlanner"])

    # How each server says it read the whole collection: PostgreSQL, MongoDB, SQLite.
    full_scans = ("Seq Scan", "COLLSCAN", "detail=SCAN ")
    get = await plan({"_id": "c5", "tenant_id": "t1"})
    # FerretDB names the index after the key ("..._id_..."); MongoDB 7 answers by IDHACK.
    assert "_id_" in get or "IDHACK" in get, get
    assert not any(scan in get for scan in full_scans), get
    find = await plan({"tenant_id": "t1", "appointment_id": "a5"})
    # the compound index (PostgreSQL shortens its name: "..._tenant_id___appoin_...")
    assert "tenant_id_" in find, find
    assert "appoin" in find, find
    assert not any(scan in find for scan in full_scans), find
