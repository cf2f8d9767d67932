"""The exact-quantities migration (ADR 0502, 0503) on the real FerretDB: float mg become
exact micrograms, old chains move onto the keyed chain only if they verify, and a second
run changes nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from halcyon.inventory.domain.chain import (
    CHAIN_VERSION,
    GENESIS,
    canonical_json,
    entry_hash,
    verify_chain,
)
from halcyon.inventory.migrations.exact_quantities import migrate, plan_rechain
from halcyon.shared.mongo import Document
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration
KEY = b"migration-test-ledger-key-00"
TENANT = "agency-migration"


@pytest_asyncio.fixture
async def database(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[Any]:
    name = f"t_migration_{uuid.uuid4().hex[:10]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


def _old_chain(registration: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries as the pre-0502/0503 service wrote them: float mg, unkeyed SHA-256 chain."""
    entries, previous = [], GENESIS
    for seq, body in enumerate(bodies, start=1):
        entry = {
            "_id": f"{registration}-op{seq}-0",
            "tenant_id": TENANT,
            "registration_id": registration,
            "seq": seq,
            "prev_hash": previous,
            "recorded_at": datetime(2026, 3, 2, 16, seq, tzinfo=UTC),
            "lot_id": "lot-1",
            "strength_mg": 0.5,
            **body,
        }
        entry["hash"] = hashlib.sha256(canonical_json(entry)).hexdigest()
        previous = entry["hash"]
        entries.append(entry)
    return entries


async def test_float_data_becomes_exact_and_the_old_chain_moves_onto_the_keyed_chain(
    database: Any,
) -> None:
    # The bug report's book: 1.0 mg received, ten wastes of 0.1 mg, float residue left.
    bodies = [{"kind": "receipt", "quantity_mg": 1.0, "units": 2.0}]
    bodies += [{"kind": "waste", "quantity_mg": 0.1} for _ in range(10)]
    bodies += [
        {
            "kind": "count",
            "book_mg": 1.3877787807814457e-16,
            "counted_mg": 0.0,
            "difference_mg": -1.3877787807814457e-16,
        }
    ]
    good = _old_chain("reg-good", bodies)
    tampered = _old_chain("reg-tampered", [{"kind": "receipt", "quantity_mg": 800.0}] * 3)
    tampered[1]["quantity_mg"] = 400.0  # edited before the migration: must not be laundered
    await database["ledger"].insert_many([*good, *tampered])
    await database["balances"].insert_one(
        {"_id": "lot-1@safe-1", "tenant_id": TENANT, "qty_mg": 1.3877787807814457e-16, "holds": []}
    )
    await database["balances"].insert_one(
        {"_id": "lot-2@safe-1", "tenant_id": TENANT, "qty_mg": 0.30000000000000004, "holds": []}
    )
    await database["products"].insert_one(
        {"_id": "p-1", "tenant_id": TENANT, "strength_mg": 40.0, "low_stock_threshold_mg": 200.0}
    )
    await database["dosing_sessions"].insert_one(
        {"_id": "appt-1", "tenant_id": TENANT, "initial": {"quantity_mg": 120.0, "op": "x"}}
    )
    await database["discrepancies"].insert_one(
        {
            "_id": "d-1",
            "tenant_id": TENANT,
            "expected_mg": 680.0,
            "counted_mg": 599.9,
            "difference_mg": -80.10000000000002,
        }
    )

    report = await migrate(database, KEY)

    assert report.refused_registrations.keys() == {f"{TENANT}/reg-tampered"}
    assert "reg-tampered-op2-0" in report.refused_registrations[f"{TENANT}/reg-tampered"]
    assert report.rechained_entries == len(good)
    balances = {b["_id"]: b async for b in database["balances"].find({})}
    assert balances["lot-1@safe-1"]["qty_ug"] == 0
    assert "qty_mg" not in balances["lot-1@safe-1"]
    assert balances["lot-2@safe-1"]["qty_ug"] == 300
    product = await database["products"].find_one({"_id": "p-1"})
    assert (product["strength_ug"], product["low_stock_threshold_ug"]) == (40_000, 200_000)
    session = await database["dosing_sessions"].find_one({"_id": "appt-1"})
    assert session["initial"]["quantity_ug"] == 120_000
    discrepancy = await database["discrepancies"].find_one({"_id": "d-1"})
    assert (
        discrepancy["expected_ug"],
        discrepancy["counted_ug"],
        discrepancy["difference_ug"],
    ) == (
        680_000,
        599_900,
        -80_100,
    )

    chain = [
        e async for e in database["ledger"].find({"registration_id": "reg-good"}).sort("seq", 1)
    ]
    assert verify_chain(chain, KEY).intact
    assert sum(e["quantity_ug"] for e in chain if e["kind"] == "waste") == 1_000  # exactly 1 mg
    assert chain[0]["quantity_ug"] - sum(e["quantity_ug"] for e in chain[1:11]) == 0
    assert chain[-1]["book_ug"] == 0
    assert chain[-1]["difference_ug"] == 0
    assert [e["migrated_from_hash"] for e in chain] == [e["hash"] for e in good]
    assert all("quantity_mg" not in e and "strength_mg" not in e for e in chain)
    untouched = [
        e async for e in database["ledger"].find({"registration_id": "reg-tampered"}).sort("seq", 1)
    ]
    assert [e["hash"] for e in untouched] == [e["hash"] for e in tampered]

    # A second run finds nothing left to do.
    again = await migrate(database, KEY)
    assert again.rechained_entries == 0
    assert not any(again.converted.values())
    assert [
        e async for e in database["ledger"].find({"registration_id": "reg-good"}).sort("seq", 1)
    ] == chain


async def test_a_run_cut_off_half_way_and_new_keyed_entries_are_finished(database: Any) -> None:
    old = _old_chain("reg-1", [{"kind": "receipt", "quantity_mg": 10.5}] * 4)
    # Entries the new service appended before anyone ran the migration: keyed, but linked
    # to the old chain's head.
    appended = {
        "_id": "reg-1-new-0",
        "tenant_id": TENANT,
        "registration_id": "reg-1",
        "seq": 5,
        "prev_hash": old[-1]["hash"],
        "kind": "waste",
        "quantity_ug": 500,
        "recorded_at": datetime(2026, 3, 3, tzinfo=UTC),
        "chain_version": CHAIN_VERSION,
    }
    appended["hash"] = entry_hash(appended, KEY)
    await database["ledger"].insert_many([*old, appended])
    # A previous run wrote its first two entries and stopped.
    plan = plan_rechain([*old, appended], KEY, datetime(2026, 3, 4, tzinfo=UTC))
    for before, after in plan.rewrites[:2]:
        await database["ledger"].replace_one({"_id": before["_id"]}, after)
    first = await migrate(database, KEY)
    assert first.rechained_entries == 3
    assert not first.refused_registrations
    chain = [e async for e in database["ledger"].find({}).sort("seq", 1)]
    assert verify_chain(chain, KEY).intact
    assert [e["quantity_ug"] for e in chain] == [10_500] * 4 + [500]
    assert (await migrate(database, KEY)).rechained_entries == 0
