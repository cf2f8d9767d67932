"""Migrate float milligrams to exact micrograms, and old chains to the keyed chain.

ADR 0502 stores every quantity as integer micrograms; ADR 0503 keys the ledger chain
with HMAC-SHA256. Data written before them has float milligrams (``qty_mg: 0.30000000000000004``,
``quantity_mg: 1.3877787807814457e-16``) and an unkeyed SHA-256 chain. This script:

- converts every float mg field to the nearest microgram (``Decimal(repr(x))`` then
  rounded half-even: float noise such as 1.4e-16 mg becomes 0 µg) in balances, products,
  dosing sessions, discrepancies, postings and ledger entries;
- re-chains each registration's ledger under the key, but only after checking the old
  chain entry by entry: a ledger whose old chain does not verify is left untouched and
  reported (migrating it would launder an edit). Each migrated entry keeps the hash it
  had as ``migrated_from_hash``, so the old chain can still be followed.

Idempotent: documents already converted are skipped, and a registration whose chain
already verifies under the key is left alone; a run cut off half-way is finished by the
next. Run it with inventory stopped:
``python -m halcyon.inventory.migrations.exact_quantities`` (settings from the
environment: ``HALCYON_MONGO_URL``, ``HALCYON_INVENTORY_DATABASE_NAME``,
``HALCYON_INVENTORY_LEDGER_KEY``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from halcyon.inventory.domain.chain import (
    CHAIN_VERSION,
    GENESIS,
    entry_hash,
    unkeyed_hash,
)
from halcyon.inventory.domain.quantities import units_text

MIGRATION = "exact_quantities"
# Float mg fields and the exact fields that replace them.
MG_FIELDS = {
    "qty_mg": "qty_ug",
    "quantity_mg": "quantity_ug",
    "strength_mg": "strength_ug",
    "low_stock_threshold_mg": "low_stock_threshold_ug",
    "book_mg": "book_ug",
    "counted_mg": "counted_ug",
    "difference_mg": "difference_ug",
    "delta_mg": "delta_ug",
    "expected_mg": "expected_ug",
}
# Fields the service changes with $inc (balances): old float and new exact parts add up.
COUNTERS = frozenset({"qty_ug"})


def micrograms(value: Any) -> int:
    """A stored float (or int) of mg as the nearest whole microgram."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(f"not a quantity: {value!r}")
    mg = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return int((mg * 1000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def convert(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with every float-mg field replaced by its microgram field (nested
    records too). A document without such fields comes back equal."""
    converted: dict[str, Any] = {}
    for key, value in doc.items():
        if key in MG_FIELDS and value is not None and not isinstance(value, dict | list):
            exact = MG_FIELDS[key]
            if exact not in doc:
                converted[exact] = micrograms(value)
            elif exact in COUNTERS:
                # The new service already $inc'ed the exact counter (stock it moved
                # before this ran): the book is the old float part plus the new part.
                converted[exact] = micrograms(value) + int(doc[exact])
            # Otherwise the exact field the new service wrote is the truth.
        elif key in COUNTERS and key in converted:
            continue  # already summed with its float part above
        elif isinstance(value, dict) and not key.startswith("_outbox"):
            converted[key] = convert(value)
        elif isinstance(value, list) and not key.startswith("_outbox"):
            converted[key] = [convert(v) if isinstance(v, dict) else v for v in value]
        else:
            converted[key] = value
    if "units" in converted and "quantity_ug" in converted and "strength_ug" in converted:
        converted["units"] = units_text(converted["quantity_ug"], converted["strength_ug"])
    if "difference_ug" in converted and {"counted_ug", "book_ug"} <= converted.keys():
        converted["difference_ug"] = converted["counted_ug"] - converted["book_ug"]
    if "difference_ug" in converted and {"counted_ug", "expected_ug"} <= converted.keys():
        converted["difference_ug"] = converted["counted_ug"] - converted["expected_ug"]
    return converted


def has_float_mg(doc: Any) -> bool:
    if isinstance(doc, dict):
        return any(
            (k in MG_FIELDS and not isinstance(v, dict | list)) or has_float_mg(v)
            for k, v in doc.items()
            if not str(k).startswith("_outbox")
        )
    if isinstance(doc, list):
        return any(has_float_mg(v) for v in doc)
    return False


@dataclass
class ChainPlan:
    """What to write to move one registration's ledger to the keyed chain."""

    rewrites: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    refused: str | None = None  # why the old chain does not verify (nothing is written)


def plan_rechain(entries: list[dict[str, Any]], key: bytes, now: datetime) -> ChainPlan:
    """Check the stored chain link by link (old entries by their unkeyed hash, keyed ones
    by the key; a keyed entry may follow either its old or its new predecessor, which is
    how a run cut off half-way looks), then re-link everything onto the keyed chain."""
    plan = ChainPlan()
    previous_old, previous_new = GENESIS, GENESIS
    for expected_seq, entry in enumerate(entries, start=1):
        keyed = entry.get("chain_version") == CHAIN_VERSION
        if int(entry.get("seq", -1)) != expected_seq:
            plan.refused = f"entry {entry['_id']}: sequence {entry.get('seq')}, not {expected_seq}"
            return plan
        if keyed:
            genuine = hmac.compare_digest(str(entry.get("hash")), entry_hash(entry, key))
            linked = entry.get("prev_hash") in {previous_old, previous_new}
        else:
            genuine = entry.get("hash") == unkeyed_hash(entry)
            linked = entry.get("prev_hash") == previous_old
        if not (genuine and linked):
            what = "its content" if not genuine else "its link to the entry before it"
            plan.refused = f"entry {entry['_id']} (seq {expected_seq}): {what} does not verify"
            return plan
        old_link = str(entry.get("migrated_from_hash") or entry["hash"])
        if keyed and entry.get("prev_hash") == previous_new:
            previous_new = str(entry["hash"])
        else:
            rewritten = convert(entry) if not keyed else dict(entry)
            if not keyed:
                rewritten["migrated_from_hash"] = entry["hash"]
                rewritten["migration"] = MIGRATION
                rewritten["migrated_at"] = now
                rewritten["chain_version"] = CHAIN_VERSION
            rewritten["prev_hash"] = previous_new
            rewritten["hash"] = entry_hash(rewritten, key)
            plan.rewrites.append((entry, rewritten))
            previous_new = rewritten["hash"]
        previous_old = old_link
    return plan


@dataclass
class Report:
    converted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rechained_entries: int = 0
    refused_registrations: dict[str, str] = field(default_factory=dict)


PLAIN_COLLECTIONS = ("balances", "products", "dosing_sessions", "discrepancies", "postings")


async def migrate(database: Any, key: bytes) -> Report:
    """Run the migration on an inventory database (pymongo async database)."""
    report = Report()
    now = datetime.now(UTC).replace(microsecond=0)
    for name in PLAIN_COLLECTIONS:
        collection = database[name]
        async for doc in collection.find({}):
            if not has_float_mg(doc):
                continue
            replacement = convert(doc)
            # One document at a time; inventory is stopped while this runs.
            result = await collection.replace_one({"_id": doc["_id"]}, replacement)
            report.converted[name] += result.modified_count
    ledger = database["ledger"]
    chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    async for entry in ledger.find({}).sort([("seq", 1)]):
        chains[(entry["tenant_id"], entry["registration_id"])].append(entry)
    for (tenant, registration), entries in chains.items():
        plan = plan_rechain(sorted(entries, key=lambda e: int(e["seq"])), key, now)
        if plan.refused:
            report.refused_registrations[f"{tenant}/{registration}"] = plan.refused
            continue
        for before, after in plan.rewrites:
            result = await ledger.replace_one({"_id": before["_id"], "hash": before["hash"]}, after)
            report.rechained_entries += result.modified_count
        report.converted["ledger"] += len(plan.rewrites)
    return report


async def _main() -> int:
    from halcyon.inventory.settings import InventorySettings
    from pymongo import AsyncMongoClient

    settings = InventorySettings()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    try:
        database = client[settings.database_name]
        report = await migrate(database, settings.ledger_key_bytes)
    finally:
        await client.close()
    print(
        json.dumps(
            {
                "converted": dict(report.converted),
                "rechained_entries": report.rechained_entries,
                "refused_registrations": report.refused_registrations,
            },
            indent=2,
        )
    )
    return 1 if report.refused_registrations else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
