"""Identity's repositories (PyMongo async), each scoped to one tenant.

Platform-wide records (signing keys, service clients) live under the tenant id
``PLATFORM`` so they still go through the tenant-scoped repository code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from halcyon.shared.files import FileChunks
from halcyon.shared.mongo import Document, TenantRepository
from pymongo import ASCENDING, DESCENDING, IndexModel

PLATFORM = "platform"


class AgencyRepository(TenantRepository):
    """One document per agency; its ``_id`` and ``tenant_id`` are the agency id."""

    collection_name = "agencies"

    async def names(self, agency_ids: list[str]) -> dict[str, str]:
        """Agency names by id, across agencies: only for the sign-in chooser."""
        found = self._collection.find({"_id": {"$in": agency_ids}}, projection={"name": 1})
        return {str(doc["_id"]): str(doc.get("name") or doc["_id"]) async for doc in found}

    async def all_agency_ids(self) -> list[str]:
        # The platform's own daily jobs walk every agency, one tenant at a time.
        return [str(doc["_id"]) async for doc in self._collection.find({}, projection={"_id": 1})]


class SiteRepository(TenantRepository):
    collection_name = "sites"


class StaffRepository(TenantRepository):
    """Personnel files; a staff member's sign-in state (hash, TOTP, lockout) sits in ``auth``."""

    collection_name = "staff"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("email", ASCENDING)], unique=True),
        # Sign-in by email looks the address up across agencies.
        IndexModel([("email", ASCENDING)]),
    )

    async def agencies_of(self, email: str, limit: int = 20) -> list[str]:
        """The agencies where this email has an active account.

        Deliberately cross-tenant, like the daily jobs: nobody is signed in yet. It
        returns agency ids only, never the personnel file.
        """
        found = self._collection.find(
            {"email": email, "active": {"$ne": False}}, projection={"tenant_id": 1}, limit=limit
        )
        return sorted({str(doc["tenant_id"]) async for doc in found})


class RefreshTokenRepository(TenantRepository):
    """Hashes of refresh tokens; one ``family`` per sign-in, rotated on every use."""

    collection_name = "refresh_tokens"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("family_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("user_id", ASCENDING)]),
    )

    async def revoke_where(
        self, tenant_id: str, query: dict[str, Any], now: datetime, reason: str | None = None
    ) -> int:
        result = await self._collection.update_many(
            self._scope(tenant_id, {**query, "revoked_at": None}),
            {"$set": {"revoked_at": now, "revoked_reason": reason}},
        )
        return result.modified_count

    async def recent_families(self, tenant_id: str, user_id: str, since: datetime) -> list[str]:
        """The person's sessions that issued a token since ``since`` (oldest first)."""
        families: dict[str, None] = {}
        async for doc in self._collection.find(
            self._scope(tenant_id, {"user_id": user_id, "issued_at": {"$gte": since}}),
            projection={"family_id": 1},
        ).sort("issued_at", ASCENDING):
            families[str(doc["family_id"])] = None
        return list(families)


class RevocationRepository(TenantRepository):
    """Ended sessions, one record per revocation, each carrying its ``AccessRevoked``."""

    collection_name = "revocations"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("user_id", ASCENDING)]),)


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

    async def update(self, *_args: Any, **_kwargs: Any) -> Document | None:
        raise PermissionError("the access audit log is append-only")

    async def delete(self, *_args: Any, **_kwargs: Any) -> int:
        raise PermissionError("the access audit log is append-only")


class LedgerAnchorLog(TenantRepository):
    """Inventory's signed ledger checkpoints (``LedgerAnchored``, ADR 0503), kept here,
    outside inventory's database, append-only: this class has no update or delete."""

    collection_name = "ledger_anchors"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("registration_id", ASCENDING), ("seq", ASCENDING)]),
    )

    async def update(self, *_args: Any, **_kwargs: Any) -> Document | None:
        raise PermissionError("the ledger anchor log is append-only")

    async def delete(self, *_args: Any, **_kwargs: Any) -> int:
        raise PermissionError("the ledger anchor log is append-only")


class ClientDirectory(TenantRepository):
    """The agency's client ids, from clinical's ``ClientRegistered`` events (nothing else
    of the client): break-the-glass is granted only for a client of the caller's agency."""

    collection_name = "clients"


class BreakTheGlassRepository(TenantRepository):
    collection_name = "break_the_glass"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("reviewed", ASCENDING), ("_id", ASCENDING)]),)


class CredentialFileRepository(TenantRepository):
    """Scanned credential files of staff (licences, DEA certificates, insurance…): what is
    known of each; the bytes are sealed in ``CredentialFileChunks`` (ADR 0307)."""

    collection_name = "credential_files"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("staff_id", ASCENDING)]),)


class CredentialFileChunks(FileChunks):
    collection_name = "credential_file_chunks"
