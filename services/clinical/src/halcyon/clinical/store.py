"""Clinical repositories (PyMongo async), each scoped to one tenant."""

from __future__ import annotations

from halcyon.shared.mongo import Document, TenantRepository
from pymongo import ASCENDING, IndexModel, ReturnDocument


class ClientRepository(TenantRepository):
    collection_name = "clients"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("mrn", ASCENDING)], unique=True),
        IndexModel(
            [("tenant_id", ASCENDING), ("name_key", ASCENDING), ("date_of_birth", ASCENDING)]
        ),
    )

    async def next_mrn_sequence(self, tenant_id: str) -> int:
        counters = self._collection.database["counters"]
        doc: Document | None = await counters.find_one_and_update(
            self._scope(tenant_id, {"_id": f"{tenant_id}:mrn"}),
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return int(doc["value"])

    async def likely_duplicates(self, tenant_id: str, name_key: str, dob: str) -> list[Document]:
        return await self.find(tenant_id, {"name_key": name_key, "date_of_birth": dob}, limit=5)
