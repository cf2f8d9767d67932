"""Controlled-substance activity per registration over a period: what came in, what went
out and why, and the balance before and after, per product. Pure; exact micrograms.

Every stock change is a ledger entry (21 CFR 1304.21(a)), so the balances follow from the
entries alone: the opening balance is the sum of every change before the period, the
closing balance the opening plus the period's changes. Counts and biennial inventories
change nothing; an initial inventory brings in what it counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from halcyon.inventory.domain.quantities import mg_text, stored_ug

# The direction each kind of entry moves stock (adjustments carry their own sign).
SIGNS = {
    "receipt": 1,
    "transfer_in": 1,
    "dispense": -1,
    "waste": -1,
    "destruction": -1,
    "return": -1,
    "transfer_out": -1,
}
# Columns of the period's movements, in the order a reader follows the stock.
MOVEMENTS = (
    "initial_inventory", "receipt", "transfer_in", "dispense", "waste", "destruction", "return",
    "transfer_out", "adjustment",
)  # fmt: skip


def changes_of(entry: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str, int]]:
    """(product facts, movement, signed micrograms) for each product the entry moves."""
    kind = entry.get("kind")
    if kind == "adjustment":
        return [(entry, "adjustment", stored_ug(entry, "delta"))]
    if kind in SIGNS:
        return [(entry, str(kind), SIGNS[str(kind)] * stored_ug(entry, "quantity"))]
    if kind == "inventory" and entry.get("inventory_kind") == "initial":
        return [
            (item, "initial_inventory", stored_ug(item, "counted"))
            for item in entry.get("items", [])
            if stored_ug(item, "counted") > 0
        ]
    return []


def activity(
    entries: Iterable[Mapping[str, Any]],
    day_of: Callable[[Mapping[str, Any]], date],
    start: date,
    end: date,
) -> list[dict[str, Any]]:
    """One row per product with any stock or movement up to ``end``, ordered by schedule,
    substance and strength. Quantities are exact decimal milligram strings."""
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        day = day_of(entry)
        if day > end:
            continue
        for facts, movement, change in changes_of(entry):
            product_id = str(facts.get("product_id"))
            row = rows.setdefault(
                product_id,
                {
                    "product_id": product_id,
                    "substance": facts.get("substance"),
                    "schedule": facts.get("schedule"),
                    "form": facts.get("form"),
                    "strength_ug": stored_ug(facts, "strength"),
                    "opening_ug": 0,
                    "dispenses": 0,
                    **{m: 0 for m in MOVEMENTS},
                },
            )
            if day < start:
                row["opening_ug"] += change
                continue
            row[movement] += change
            if movement == "dispense":
                row["dispenses"] += 1
    out = []
    for row in sorted(
        rows.values(), key=lambda r: (str(r["schedule"]), str(r["substance"]), r["strength_ug"])
    ):
        closing = row["opening_ug"] + sum(row[m] for m in MOVEMENTS)
        out.append(
            {
                "product_id": row["product_id"],
                "substance": row["substance"],
                "schedule": row["schedule"],
                "form": row["form"],
                "strength_mg": mg_text(row["strength_ug"]),
                "opening_mg": mg_text(row["opening_ug"]),
                # Movements out are shown as positive amounts; adjustments keep their sign.
                **{
                    f"{m}_mg": mg_text(row[m] if m == "adjustment" else abs(row[m]))
                    for m in MOVEMENTS
                },
                "closing_mg": mg_text(closing),
                "dispenses": row["dispenses"],
            }
        )
    return out
