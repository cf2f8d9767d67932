"""Exact quantities (ADR 0502): micrograms in storage and arithmetic, decimal mg at the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from halcyon.inventory.domain.models import DispenseIn, ProductIn, WasteIn
from halcyon.inventory.domain.quantities import (
    InexactQuantity,
    mg_text,
    mg_to_ug,
    ml_to_ug,
    units_text,
)
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError


def test_ten_wastes_of_a_tenth_from_one_mg_leave_exactly_nothing() -> None:
    balance = mg_to_ug("1.0")
    for _ in range(10):
        balance -= mg_to_ug(0.1)  # a JSON number, as a client sends it
    assert balance == 0
    assert mg_text(balance) == "0"


def test_three_times_point_three_then_point_one_is_exactly_one_mg() -> None:
    stock = mg_to_ug(1)
    for dose in ("0.3", "0.3", "0.3"):
        stock -= mg_to_ug(dose)
    assert stock == mg_to_ug("0.1")  # the last 0.1 mg is there to take
    assert stock - mg_to_ug(0.1) == 0


@pytest.mark.parametrize(
    ("given", "micrograms"),
    [("120", 120_000), (120, 120_000), (0.1, 100), ("0.001", 1), ("62.5", 62_500), (1.5, 1_500)],
)
def test_milligrams_become_exact_micrograms(given: Any, micrograms: int) -> None:
    assert mg_to_ug(given) == micrograms


@pytest.mark.parametrize(
    "refused",
    ["0.0001", 0.30000000000000004, 1e-7, "abc", float("nan"), float("inf"), "1e-4", True],
)
def test_more_than_three_places_or_a_noisy_float_is_refused(refused: Any) -> None:
    with pytest.raises(InexactQuantity):
        mg_to_ug(refused)


@pytest.mark.parametrize(
    ("micrograms", "text"),
    [(0, "0"), (100, "0.1"), (1_500, "1.5"), (120_000, "120"), (-250, "-0.25")],
)
def test_micrograms_are_shown_as_exact_milligram_strings(micrograms: int, text: str) -> None:
    assert mg_text(micrograms) == text


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_shown_milligrams_read_back_to_the_same_micrograms(micrograms: int) -> None:
    assert mg_to_ug(mg_text(micrograms)) == micrograms


def test_millilitres_of_a_liquid_become_exact_milligrams_or_are_refused() -> None:
    assert ml_to_ug("0.5", "50") == 25_000  # 0.5 mL of ketamine 50 mg/mL
    assert ml_to_ug(Decimal("1.25"), "10") == 12_500
    with pytest.raises(InexactQuantity, match="not a whole number of micrograms"):
        ml_to_ug("0.333", "0.1")  # 0.0333 mg
    with pytest.raises(InexactQuantity):
        ml_to_ug("0.0005", "50")  # more than three places of mL


def test_units_are_exact_when_whole() -> None:
    assert units_text(120_000, 40_000) == "3"
    assert units_text(60_000, 40_000) == "1.5"
    assert units_text(100_000, 30_000) == "3.333"


def test_request_bodies_take_decimal_strings_and_refuse_inexact_numbers() -> None:
    base = {
        "appointment_id": "a",
        "lot_id": "l",
        "location_id": "loc",
        "administered_by": "n",
        "witness_id": "w",
        "prescriber_id": "p",
    }
    assert DispenseIn(**base, quantity_mg="120.5").quantity_mg == Decimal("120.5")
    assert DispenseIn(**base, quantity_ml="1.5").quantity_ml == Decimal("1.5")
    for bad in ("0.0001", 0.30000000000000004, "-1", "0"):
        with pytest.raises(ValidationError):
            DispenseIn(**base, quantity_mg=bad)
    with pytest.raises(ValidationError, match="either in mg"):
        DispenseIn(**base)
    with pytest.raises(ValidationError, match="either in mg"):
        DispenseIn(**base, quantity_mg="1", quantity_ml="1")
    with pytest.raises(ValidationError):
        WasteIn(
            lot_id="l",
            location_id="x",
            quantity_mg="0.12345",
            method="m",
            reason="r",
            witness_ids=["a", "b"],
        )
    product = ProductIn(
        substance="ketamine",
        schedule="III",
        form="injection",
        strength_mg="500",
        units_per_container=1,
        concentration_mg_per_ml="50",
    )
    assert product.concentration_mg_per_ml == Decimal("50")


@pytest.mark.parametrize(
    "huge", ["1e30", 1e30, 10**40, "1e1000000", "-1e30", "9" * 40, "1e-1000000"]
)
def test_huge_or_tiny_quantities_are_a_422_not_a_server_error(huge: Any) -> None:
    """A hostile caller's 1e30 mg is refused as a validation error (a 422 problem), not
    an unhandled decimal.InvalidOperation (a 500)."""
    from halcyon.inventory.domain.models import AdjustmentIn, ReceiptIn

    with pytest.raises(InexactQuantity):
        mg_to_ug(huge)
    with pytest.raises(ValidationError):
        ReceiptIn(lot_id="l", location_id="x", quantity_mg=huge, received_on="2026-01-01")
    with pytest.raises(ValidationError):
        AdjustmentIn(lot_id="l", location_id="x", delta_mg=huge, reason="count")


def test_migrating_a_balance_the_new_service_already_moved_keeps_both_parts() -> None:
    """Mixed old/new data: before the migration ran, the new service $inc'ed ``qty_ug``
    (a receipt of 0.5 mg) on a balance that still held the old float ``qty_mg``. The
    migration overwrote one with the other (which one depended on key order), losing
    stock from the book."""
    from halcyon.inventory.migrations.exact_quantities import convert

    both_orders = [
        {"_id": "b", "qty_mg": 10.5, "qty_ug": 500},
        {"_id": "b", "qty_ug": 500, "qty_mg": 10.5},
    ]
    for balance in both_orders:
        converted = convert(balance)
        assert converted["qty_ug"] == 11_000
        assert "qty_mg" not in converted
    # Other exact fields already written by the new service win over stale floats.
    assert convert({"strength_ug": 56_000, "strength_mg": 0.5})["strength_ug"] == 56_000


def test_a_legacy_entry_left_unmigrated_still_reads_as_exact_micrograms() -> None:
    """The migration leaves a registration whose old chain does not verify untouched
    (float mg, no ``*_ug``); reports and lot history read those entries too, and raised
    KeyError (a 500) on ``quantity_ug``."""
    from halcyon.inventory.domain.quantities import stored_ug

    legacy = {"quantity_mg": 0.30000000000000004, "strength_mg": 40.0, "delta_mg": -0.1}
    assert stored_ug(legacy, "quantity") == 300
    assert stored_ug(legacy, "strength") == 40_000
    assert stored_ug(legacy, "delta") == -100
    assert stored_ug({"quantity_ug": 120_000, "quantity_mg": 1.0}, "quantity") == 120_000
