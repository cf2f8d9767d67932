"""The keyed ledger chain and its anchors (ADR 0503), without servers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from halcyon.inventory.domain.anchors import (
    checkpoint_is_genuine,
    compare_with_anchors,
    sign_checkpoint,
)
from halcyon.inventory.domain.chain import (
    CHAIN_VERSION,
    GENESIS,
    archive_seal,
    canonical_json,
    entry_hash,
    key_id,
    verify_chain,
)
from halcyon.inventory.settings import DEVELOPMENT_LEDGER_KEY, InventorySettings
from halcyon.shared.events import ServiceEvents

KEY = b"unit-test-ledger-key-0123456789"


# What ``runtime.event`` makes in the running service (inventory as the source).
outbox_event = ServiceEvents("inventory").event


def _chain(n: int, key: bytes = KEY) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    previous = GENESIS
    for seq in range(1, n + 1):
        entry: dict[str, Any] = {
            "_id": f"e{seq}",
            "seq": seq,
            "prev_hash": previous,
            "kind": "dispense",
            "quantity_ug": 80_000,
            "recorded_at": datetime(2026, 11, 27, 9, seq, tzinfo=UTC),
            "chain_version": CHAIN_VERSION,
        }
        entry["hash"] = entry_hash(entry, key)
        previous = entry["hash"]
        entries.append(entry)
    return entries


def _rehash_unkeyed_from(entries: list[dict[str, Any]], index: int) -> None:
    """What someone with database access but no key can do: recompute every later hash."""
    previous = entries[index - 1]["hash"] if index else GENESIS
    for entry in entries[index:]:
        entry["prev_hash"] = previous
        entry["hash"] = hashlib.sha256(canonical_json(entry)).hexdigest()
        previous = entry["hash"]


def test_intact_chain_verifies() -> None:
    report = verify_chain(_chain(5), KEY)
    assert report.intact
    assert report.entries_checked == 5
    assert report.head_seq == 5


def test_altered_entry_is_named() -> None:
    entries = _chain(5)
    entries[2]["quantity_ug"] = 40_000
    broken = verify_chain(entries, KEY).first_break
    assert broken is not None
    assert broken.entry_id == "e3"
    assert "altered" in broken.reason


def test_an_edit_with_every_later_hash_recomputed_without_the_key_is_named() -> None:
    entries = _chain(5)
    entries[2]["quantity_ug"] = 40_000
    _rehash_unkeyed_from(entries, 2)
    broken = verify_chain(entries, KEY).first_break
    assert broken is not None
    assert broken.entry_id == "e3"
    assert "keyed hash" in broken.reason


def test_another_key_does_not_verify() -> None:
    broken = verify_chain(_chain(3), b"another-key-entirely-000").first_break
    assert broken is not None
    assert broken.entry_id == "e1"


def test_removed_entry_is_named() -> None:
    entries = _chain(5)
    del entries[1]
    broken = verify_chain(entries, KEY).first_break
    assert broken is not None
    assert broken.entry_id == "e3"
    assert "missing" in broken.reason


def test_archival_fields_set_outside_the_service_are_detected() -> None:
    entries = _chain(3)
    entries[1]["archived_at"] = datetime(2026, 11, 28, tzinfo=UTC)
    broken = verify_chain(entries, KEY).first_break
    assert broken is not None
    assert broken.entry_id == "e2"
    assert "archived_at" in broken.reason
    # The service's own archiving seals them with the key, and the chain still verifies.
    entries[1]["archived_by"] = "officer"
    entries[1]["archive_seal"] = archive_seal(entries[1], KEY)
    assert verify_chain(entries, KEY).intact
    entries[1]["archived_by"] = "someone-else"
    assert not verify_chain(entries, KEY).intact


def test_integral_floats_hash_like_ints() -> None:
    """Mongo may hand back 80 for 80.0; the hash must not change with it."""
    assert entry_hash({"q": 80.0}, KEY) == entry_hash({"q": 80}, KEY)


def _checkpoint(entries: list[dict[str, Any]], seq: int, key: bytes = KEY) -> dict[str, Any]:
    head = entries[seq - 1]
    return sign_checkpoint(
        {
            "anchor_id": f"reg-1:{seq}",
            "tenant_id": "t",
            "registration_id": "reg-1",
            "dea_number": "RD1234567",
            "seq": seq,
            "entry_id": head["_id"],
            "head_hash": head["hash"],
            "anchored_at": "2026-11-27T10:00:00.000+00:00",
            "key_id": key_id(key),
        },
        key,
    )


def test_deleting_the_newest_entry_is_caught_by_its_anchor() -> None:
    entries = _chain(5)
    anchor = _checkpoint(entries, 5)
    shortened = entries[:4]
    assert verify_chain(shortened, KEY).intact  # consistent in itself
    check = compare_with_anchors(shortened, [anchor], KEY, "reg-1")
    assert check.first_break is not None
    assert check.first_break.entry_id == "e5"
    assert "missing" in check.first_break.reason


def test_a_rewritten_chain_differs_from_its_anchor() -> None:
    entries = _chain(5)
    anchor = _checkpoint(entries, 4)
    rewritten = _chain(5, key=KEY)
    rewritten[3]["quantity_ug"] = 1
    rewritten[3]["hash"] = entry_hash(rewritten[3], KEY)  # only possible with the key
    check = compare_with_anchors(rewritten, [anchor], KEY, "reg-1")
    assert check.first_break is not None
    assert check.first_break.seq == 4


def test_forged_or_edited_checkpoints_are_not_genuine() -> None:
    entries = _chain(3)
    anchor = _checkpoint(entries, 3)
    assert checkpoint_is_genuine(anchor, KEY)
    edited = {**anchor, "seq": 2, "entry_id": "e2", "head_hash": entries[1]["hash"]}
    assert not checkpoint_is_genuine(edited, KEY)
    check = compare_with_anchors(entries[:2], [edited], KEY, "reg-1")
    assert check.forged == ["reg-1:3"]
    assert check.first_break is None
    assert not checkpoint_is_genuine(_checkpoint(entries, 3, b"not-our-key-at-all-000"), KEY)


def test_the_development_ledger_key_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HALCYON_ENVIRONMENT", "production")
    monkeypatch.setenv("HALCYON_FIELD_ENCRYPTION_KEY", "a-real-production-secret-value")
    monkeypatch.delenv("HALCYON_INVENTORY_LEDGER_KEY", raising=False)
    with pytest.raises(ValueError, match="LEDGER_KEY is the development default"):
        InventorySettings()
    monkeypatch.setenv("HALCYON_INVENTORY_LEDGER_KEY", "a-real-ledger-key-from-a-vault")
    assert InventorySettings().ledger_key != DEVELOPMENT_LEDGER_KEY


async def test_anchor_logs_have_no_update_or_delete() -> None:
    """ADR 0503: neither inventory's copy nor identity's copy of a checkpoint can change."""
    from halcyon.identity.store import LedgerAnchorLog
    from halcyon.inventory.store import LedgerAnchors
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1/", connect=False
    )
    try:
        for log in (LedgerAnchors(client["unused"]), LedgerAnchorLog(client["unused"])):
            with pytest.raises(PermissionError, match="append-only"):
                await log.update("t", {"_id": "a"}, {"$set": {"seq": 1}})
            with pytest.raises(PermissionError, match="append-only"):
                await log.delete("t", {"_id": "a"})
    finally:
        await client.close()


def test_archival_fields_set_to_null_outside_the_service_are_detected() -> None:
    """The ledger listing hides entries where ``archived_at`` exists (even as null): a DBA
    writing ``{"archived_at": null}`` hid an entry while verification said intact."""
    entries = _chain(3)
    entries[1]["archived_at"] = None
    report = verify_chain(entries, KEY)
    assert report.first_break is not None
    assert report.first_break.entry_id == "e2"
    assert "archived_at" in report.first_break.reason


def test_brought_checkpoints_of_any_shape_are_filtered_without_a_server_error() -> None:
    """POST …/ledger/verify takes arbitrary JSON objects: a ``tenant_id`` that is a list
    or an object raised TypeError (unhashable) — a 500 — instead of being set aside."""
    from halcyon.inventory.domain.anchors import checkpoints_of_tenant

    entries = _chain(2)
    ours = _checkpoint(entries, 2)
    brought: list[dict[str, Any]] = [
        {"tenant_id": []},
        {"tenant_id": {"a": 1}},
        {**ours, "tenant_id": "other-agency"},
        {k: v for k, v in ours.items() if k != "tenant_id"},
        ours,
    ]
    kept = checkpoints_of_tenant(brought, ours["tenant_id"])
    assert [c.get("tenant_id") for c in kept] == [ours["tenant_id"]] * 2


class _FakeLedger:
    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries

    async def chain(self, tenant_id: str, registration_id: str) -> list[dict[str, Any]]:
        return list(self.entries)


class _FakeAnchors:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def latest(self, tenant_id: str, registration_id: str) -> dict[str, Any] | None:
        return max(self.docs.values(), key=lambda d: d["seq"]) if self.docs else None

    async def of_registration(self, tenant_id: str, registration_id: str) -> list[dict[str, Any]]:
        return sorted(self.docs.values(), key=lambda d: d["seq"])

    async def insert(self, tenant_id: str, doc: dict[str, Any], events: Any = ()) -> dict[str, Any]:
        self.docs[doc["_id"]] = doc
        return doc

    async def get(self, tenant_id: str, record_id: str) -> dict[str, Any] | None:
        return self.docs.get(record_id)


async def test_a_truncated_chain_is_not_anchored_again() -> None:
    """A DBA deletes the newest (anchored) entry: the shorter chain is consistent in
    itself, but the service must not sign a fresh checkpoint vouching for it (an auditor
    downloading "the latest checkpoint" would get one of the truncated ledger)."""
    from halcyon.inventory.usecases.ledger_integrity import ChainNotIntact, anchor_head

    registration = {"_id": "reg-1", "tenant_id": "t", "dea_number": "RD1234567", "site_id": "s"}
    entries = _chain(4)
    ledger, anchors = _FakeLedger(entries), _FakeAnchors()
    first = await anchor_head(anchors, ledger, registration, KEY, outbox_event)  # type: ignore[arg-type]
    assert first is not None
    assert first["seq"] == 4
    ledger.entries = entries[:3]  # the last entry deleted directly in the database
    with pytest.raises(ChainNotIntact) as broken:
        await anchor_head(anchors, ledger, registration, KEY, outbox_event)  # type: ignore[arg-type]
    assert "missing" in broken.value.first_break.reason
    assert [d["seq"] for d in anchors.docs.values()] == [4]
