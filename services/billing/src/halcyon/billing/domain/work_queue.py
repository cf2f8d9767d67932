"""The biller's work queue: which open items a filter names."""

from __future__ import annotations

from typing import Any


def open_items_query(
    kind: str | None, carc: str | None, group: str | None, rarc: str | None
) -> dict[str, Any]:
    """Open work items, filtered by kind, CARC, CAS group code and RARC; a CARC with a group
    means that reason in that group, not just both present on the item."""
    query: dict[str, Any] = {"status": "open"}
    if kind:
        query["kind"] = kind
    if carc and group:
        query["codes"] = f"{group}-{carc}"
    elif carc:
        query["carc_codes"] = carc
    elif group:
        query["group_codes"] = group
    if rarc:
        query["remarks"] = rarc
    return query
