"""Reading, verifying, anchoring and archiving a registration's ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from halcyon.inventory.domain.chain import archive_seal, matches_its_hash, truncate_to_millis
from halcyon.inventory.domain.deadlines import retained_until, within_retention
from halcyon.inventory.domain.roles import AUDITORS
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import Ledger, LedgerAnchors, Registrations, SiteDirectory
from halcyon.inventory.usecases.ledger_integrity import (
    ChainNotIntact,
    Verification,
    anchor_head,
    checkpoint_of,
    verify_registration,
)
from halcyon.inventory.usecases.stock import site_timezone
from halcyon.shared.access import RecordAccess
from halcyon.shared.errors import Conflict, RuleViolation
from halcyon.shared.mongo import Document


class LedgerRecords:
    def __init__(self, runtime: InventoryRuntime) -> None:
        self._runtime = runtime
        self._key = runtime.settings.ledger_key_bytes

    @property
    def key(self) -> bytes:
        """The chain's HMAC key (its public checkpoint key is derived from it)."""
        return self._key

    async def registration(
        self,
        access: RecordAccess,
        registration_id: str,
        roles: Iterable[str],
        resource: str,
        action: str = "read",
    ) -> Document:
        """The registration, if the caller holds one of ``roles`` at its site."""
        return await access.open(
            self._runtime.repo(Registrations),
            registration_id,
            roles,
            action=action,
            resource=resource,
            what="registration",
        )

    async def verify(
        self,
        access: RecordAccess,
        registration_id: str,
        checkpoints: Iterable[Mapping[str, Any]] = (),
    ) -> Verification:
        resource = "inventory/registrations/{registration_id}/ledger/verify"
        await self.registration(access, registration_id, AUDITORS, resource)
        return await verify_registration(
            self._runtime.repo(Ledger),
            self._runtime.repo(LedgerAnchors),
            access.tenant_id,
            registration_id,
            self._key,
            checkpoints,
        )

    async def anchor(self, access: RecordAccess, registration_id: str) -> dict[str, Any]:
        """Anchor the chain's head now (identity's log and a signed checkpoint)."""
        resource = "inventory/registrations/{registration_id}/ledger/anchors"
        registration = await self.registration(
            access, registration_id, AUDITORS, resource, action="create"
        )
        try:
            anchor = await anchor_head(
                self._runtime.repo(LedgerAnchors),
                self._runtime.repo(Ledger),
                registration,
                self._key,
                self._runtime.event,
            )
        except ChainNotIntact as broken:
            raise Conflict(
                f"the chain does not verify at entry {broken.first_break.entry_id}"
                f" ({broken.first_break.reason}); it is not anchored",
                entry_id=broken.first_break.entry_id,
            ) from None
        if anchor is None:
            raise Conflict("the ledger has no entries to anchor yet")
        return checkpoint_of(anchor)

    async def archive(self, access: RecordAccess, entry_id: str) -> Document:
        """21 CFR 1304.04(a): every record is kept and available for at least two years.
        Older entries are archived (hidden from day-to-day views), never physically
        removed, so the hash chain still verifies."""
        tenant, ledger = access.tenant_id, self._runtime.repo(Ledger)
        entry = await access.open(
            ledger, entry_id, AUDITORS, action="delete", resource="inventory/ledger/{entry_id}",
            what="ledger entry",
        )  # fmt: skip
        if not matches_its_hash(entry, self._key):
            raise Conflict(
                "this entry does not match its keyed hash (changed in the database); it is"
                " not archived: verify the ledger",
                entry_id=entry_id,
            )
        recorded_at: datetime = entry["recorded_at"]
        sites = self._runtime.repo(SiteDirectory)
        zone = await site_timezone(sites, tenant, str(entry.get("site_id")))
        if within_retention(recorded_at, site_timezone=zone):
            raise RuleViolation(
                "ledger records are kept for two years: this one cannot be deleted or archived"
                f" before {retained_until(recorded_at, zone)} (the site's day)",
                rule="21 CFR 1304.04(a)",
            )
        archival = {
            "archived_at": truncate_to_millis(datetime.now(UTC)),
            "archived_by": access.caller.user_id,
        }
        # The archival fields get their own keyed seal: set directly in the database, they
        # would hide an entry from day-to-day views, and verification names that (ADR 0503).
        seal = archive_seal({**entry, **archival}, self._key)
        archived = await ledger.update(
            tenant,
            {"_id": entry_id, "archived_at": {"$exists": False}},
            {"$set": {**archival, "archive_seal": seal}},
        )
        if archived is None:
            raise Conflict("the entry is already archived")
        # A change to a DEA record, and the response shows the client a dose went to.
        await access.audit.record(
            access.caller,
            action="delete",
            resource="inventory/ledger-entry",
            resource_id=entry_id,
            client_id=archived.get("client_id"),
            site_id=archived.get("site_id"),
            request=access.request,
        )
        return archived
