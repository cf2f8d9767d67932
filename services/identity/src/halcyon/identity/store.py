"""Identity's repositories (PyMongo async), each scoped to one tenant.

Platform-wide records (signing keys, service clients) live under the tenant id
``PLATFORM`` so they still go through the tenant-scoped repository code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from halcyon.shared.mongo import Document, TenantRepository
from pymongo import ASCENDING, DESCENDING, IndexModel

PLATFORM = "platform"


class AgencyRepository(TenantRepository):
    """One document per agency; its ``_id`` and ``tenant_id`` are the agency id."""

    collection_name = "agencies"

    async def all_agency_ids(self) -> list[str]:
        # The platform's own daily jobs walk every agency, one tenant at a time.
        return [str(doc["_id"]) async for doc in self._collection.find({}, projection={"_id": 1})]


class SiteRepository(TenantRepository):
    collection_name = "sites"


class StaffRepository(TenantRepository):
    """Personnel files; a staff member's sign-in state (hash, TOTP, lockout) sits in ``auth``."""

    collection_name = "staff"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("email", ASCENDING)], unique=True),)


class RefreshTokenRepository(TenantRepository):
    """Hashes of refresh tokens; one ``family`` per sign-in, rotated on every use."""

    collection_name = "refresh_tokens"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("family_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("user_id", ASCENDING)]),
    )

    async def revoke_where(self, tenant_id: str, query: dict[str, Any], now: datetime) -> int:
        result = await self._collection.update_many(
            self._scope(tenant_id, {**query, "revoked_at": None}), {"$set": {"revoked_at": now}}
        )
        return result.modified_count


class PasswordResetRepository(TenantRepository):
    collection_name = "password_resets"


class SigningKeyRepository(TenantRepository):
    collection_name = "signing_keys"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("created_at", DESCENDING)]),)


class ServiceClientRepository(TenantRepository):
    collection_name = "service_clients"


class AccessAuditLog(TenantRepository):
    """The access audit log: append-only. This class has no update or delete on purpose."""

    collection_name = "access_audit"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("user_id", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("at", ASCENDING)]),
    )

    async def update(self, *args: Any, **kwargs: Any) -> Document | None:
        raise PermissionError("the access audit log is append-only")

    async def delete(self, *args: Any, **kwargs: Any) -> int:
        raise PermissionError("the access audit log is append-only")


class BreakTheGlassRepository(TenantRepository):
    collection_name = "break_the_glass"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("reviewed", ASCENDING), ("_id", ASCENDING)]),)
