"""Schema evolution: a published contract only changes in ways a v1 consumer survives.

``docs/schemas/<event_type>.json`` is the schema each contract had when it was first
published; the current models are compared with it. Pure tests, no servers.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from halcyon.shared.catalogue import (
    V2_ADVICE,
    breaking_changes,
    published_schema,
    snapshot,
    snapshot_path,
)
from halcyon.shared.contracts import all_contracts
from halcyon.shared.testing.servers import repo_root
from pydantic import BaseModel

DOCS = repo_root() / "docs"


def test_every_published_contract_has_a_snapshot_of_its_schema() -> None:
    missing = [
        event_type for event_type in all_contracts() if not snapshot_path(DOCS, event_type).exists()
    ]
    assert not missing, (
        f"no published schema for {missing}: python -m halcyon.shared.catalogue snapshot docs "
        "(and commit docs/schemas/)"
    )


@pytest.mark.parametrize("event_type", sorted(all_contracts()))
def test_a_contract_changes_only_in_ways_its_v1_consumers_survive(event_type: str) -> None:
    path = snapshot_path(DOCS, event_type)
    if not path.exists():
        pytest.skip("no snapshot yet (the test above fails for it)")
    published = json.loads(path.read_text())
    problems = breaking_changes(
        published, published_schema(all_contracts()[event_type]), event_type=event_type
    )
    assert not problems, "\n".join(problems)


# -- the comparison itself ------------------------------------------------------------


class Address(BaseModel):
    line1: str
    city: str


class Dispensed(BaseModel):
    """v1 as published."""

    ledger_entry_id: str
    quantity_mg: float
    administered_at: datetime
    witness_id: str | None = None
    address: Address | None = None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


V1 = _schema(Dispensed)


def test_adding_an_optional_field_and_rewording_keeps_v1() -> None:
    class WithLot(BaseModel):
        """Reworded docstring."""

        ledger_entry_id: str
        quantity_mg: float
        administered_at: datetime
        witness_id: str | None = None
        address: Address | None = None
        lot_id: str | None = None  # new and optional
        supplemental: bool = False  # new, with a default

    assert breaking_changes(V1, _schema(WithLot)) == []


def test_a_removed_field_breaks_v1_and_names_the_field() -> None:
    class WithoutWitness(BaseModel):
        ledger_entry_id: str
        quantity_mg: float
        administered_at: datetime
        address: Address | None = None

    [problem] = breaking_changes(V1, _schema(WithoutWitness), event_type="x.v1")
    assert "`witness_id`" in problem
    assert "removed" in problem
    assert problem.startswith("x.v1: ")
    assert V2_ADVICE in problem
    assert V2_ADVICE == "publish a .v2 contract alongside"


def test_a_changed_type_breaks_v1() -> None:
    class QuantityAsText(BaseModel):
        ledger_entry_id: str
        quantity_mg: str  # was a number
        administered_at: date  # was a date-time
        witness_id: str | None = None
        address: Address | None = None

    problems = breaking_changes(V1, _schema(QuantityAsText))
    assert len(problems) == 2
    assert "`quantity_mg` changed type from number to string" in problems[0]
    assert (
        "`administered_at` changed type from string (date-time) to string (date)" in (problems[1])
    )
    assert all(V2_ADVICE in p for p in problems)


def test_a_new_required_field_or_an_optional_field_made_required_breaks_v1() -> None:
    class Stricter(BaseModel):
        ledger_entry_id: str
        quantity_mg: float
        administered_at: datetime
        witness_id: str  # was optional (still a string, but now always expected)
        address: Address | None = None
        prescriber_id: str  # new and required

    problems = breaking_changes(V1, _schema(Stricter))
    assert any("`witness_id`" in p and "became required" in p for p in problems)
    assert any("`prescriber_id`" in p and "added as required" in p for p in problems)
    assert all(V2_ADVICE in p for p in problems)


def test_a_new_value_of_an_enumerated_field_breaks_v1_and_asks_for_the_next_version() -> None:
    class Routed(BaseModel):
        route: Literal["oral", "intranasal"] | None = None

    class MoreRoutes(BaseModel):
        route: Literal["oral", "intranasal", "intravenous"] | None = None

    class FewerRoutes(BaseModel):
        route: Literal["oral"] | None = None

    [problem] = breaking_changes(
        _schema(Routed), _schema(MoreRoutes), event_type="halcyon.partner.dose.reported.v2"
    )
    assert "`route`" in problem
    assert "intravenous" in problem
    assert "publish a .v3 contract alongside" in problem
    assert breaking_changes(_schema(Routed), _schema(FewerRoutes)) == []


def test_a_change_inside_a_nested_object_breaks_v1_with_its_path() -> None:
    class AddressWithoutCity(BaseModel):
        line1: str

    class Moved(BaseModel):
        ledger_entry_id: str
        quantity_mg: float
        administered_at: datetime
        witness_id: str | None = None
        address: AddressWithoutCity | None = None  # renaming the class alone is fine

    [problem] = breaking_changes(V1, _schema(Moved))
    assert "`address.city` was removed" in problem


def test_snapshots_are_added_for_new_contracts_and_never_overwritten(tmp_path: Path) -> None:
    written = snapshot(tmp_path)
    assert {p.name for p in written} == {f"{t}.json" for t in all_contracts()}
    some = snapshot_path(tmp_path, "halcyon.inventory.dose.dispensed.v1")
    some.write_text('{"published": "long ago"}\n')
    assert snapshot(tmp_path) == []
    assert json.loads(some.read_text()) == {"published": "long ago"}
