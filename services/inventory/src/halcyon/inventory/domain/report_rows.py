"""The rows of the DEA reports, built from ledger entries (pure: no I/O).

21 CFR 1304.04(h): Schedule I-II records are kept separately from all others, so a
report asks for one schedule group and contains nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from halcyon.inventory.domain.activity import SIGNS
from halcyon.inventory.domain.quantities import mg_text, stored_ug, units_text
from halcyon.inventory.domain.substances import covers

Document = dict[str, Any]
GROUPS: dict[str, list[str]] = {"I-II": ["I", "II"], "III-V": ["III", "IV", "V"]}


def local_day_start(day: date, zone: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in the site's zone (as an aware UTC instant)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def site_zone(site: Mapping[str, Any] | None) -> tzinfo:
    """The site's IANA zone for display (21 CFR 1304.22(c) asks for the date dispensed;
    the site's calendar day is the one people recognise)."""
    try:
        return ZoneInfo(str(site["timezone"])) if site and site.get("timezone") else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def staff_name(member: Mapping[str, Any] | None, staff_id: str) -> str:
    if member is None:
        return staff_id
    return f"{member.get('display_name', staff_id)} ({staff_id})"


def client_address(client: Mapping[str, Any] | None) -> str:
    if not client or not client.get("address"):
        return "(not on file)"
    address = client["address"]
    if isinstance(address, dict):
        return ", ".join(str(v) for v in address.values() if v)
    return str(address)


def dea_number(member: Mapping[str, Any] | None, schedule: str) -> str:
    for registration in (member or {}).get("dea_registrations", []):
        if covers(list(registration.get("schedules", [])), schedule):
            return str(registration["number"])
    return ""


def dispensing_row(
    e: Mapping[str, Any],
    zone: tzinfo,
    client: Mapping[str, Any] | None,
    people: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """One dispense with every 21 CFR 1304.22(c) field."""
    prescriber = people[e["prescriber_id"]]
    return {
        "registrant_dea_number": e["dea_number"],
        "dispensed_on": e["administered_at"].astimezone(zone),
        "substance": e["substance"],
        "schedule": e["schedule"],
        "form": e["form"],
        "strength_mg": mg_text(stored_ug(e, "strength")),
        "units_per_container": e["units_per_container"],
        "lot_number": e["lot_number"],
        "quantity_mg": mg_text(stored_ug(e, "quantity")),
        "units": e.get("units"),
        "client_name": f"{client['given_name']} {client['family_name']}"
        if client
        else f"(client {e['client_id']})",
        "client_address": client_address(client),
        "administered_by": staff_name(people[e["administered_by"]], e["administered_by"]),
        "witness": staff_name(people[e["witness_id"]], e["witness_id"]),
        "prescriber": staff_name(prescriber, e["prescriber_id"]),
        "prescriber_dea_number": dea_number(prescriber, e["schedule"]),
        "appointment_id": e.get("appointment_id"),
        "supplemental": e.get("supplemental", False),
        "entry_id": e["_id"],
    }


def inventory_rows(inventory: Mapping[str, Any], schedules: str) -> list[dict[str, Any]]:
    """The items of an initial/biennial inventory in one schedule group."""
    rows = []
    for item in inventory["items"]:
        if item["schedule"] not in GROUPS[schedules]:
            continue
        strength = stored_ug(item, "strength")
        counted = stored_ug(item, "counted")
        rows.append(
            {
                **item,
                "strength_mg": mg_text(strength),
                "counted_mg": mg_text(counted),
                "registrant_dea_number": inventory["dea_number"],
                "taken_on": inventory["taken_on"],
                "taken_at": f"{inventory['taken_at']} of business",
                "units": units_text(counted, strength),
                "containers": units_text(counted, strength * int(item["units_per_container"])),
            }
        )
    return rows


def change_mg(e: Mapping[str, Any]) -> str | None:
    """How much the entry moved the balance, signed (None: it moved nothing)."""
    kind = e["kind"]
    if kind == "adjustment":
        return mg_text(stored_ug(e, "delta"))
    if kind in SIGNS:
        return mg_text(SIGNS[kind] * stored_ug(e, "quantity"))
    return None


def kind_text(e: Mapping[str, Any]) -> str:
    kind = str(e["kind"])
    return kind if kind != "count" else f"count ({e.get('count_kind')})"


def lot_history_row(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "recorded_at": e["recorded_at"],
        "seq": e["seq"],
        "registrant_dea_number": e.get("dea_number"),
        "kind": kind_text(e),
        "substance": e.get("substance"),
        "schedule": e.get("schedule"),
        "lot_number": e.get("lot_number"),
        "location_name": e.get("location_name"),
        "change_mg": change_mg(e),
        "detail": detail(e),
        "recorded_by": e.get("recorded_by"),
        "entry_id": e["_id"],
    }


def ledger_row(e: Mapping[str, Any], zone: tzinfo) -> dict[str, Any]:
    return {
        "seq": e["seq"],
        "recorded_at": e["recorded_at"].astimezone(zone),
        "registrant_dea_number": e.get("dea_number"),
        "kind": kind_text(e),
        "substance": e.get("substance"),
        "schedule": e.get("schedule"),
        "form": e.get("form"),
        "strength_mg": strength_text(e),
        "lot_number": e.get("lot_number"),
        "location_name": e.get("location_name"),
        "change_mg": change_mg(e),
        "detail": detail(e),
        "recorded_by": e.get("recorded_by"),
        "archived": "archived_at" in e,
        "entry_id": e["_id"],
        "prev_hash": e.get("prev_hash"),
        "hash": e.get("hash"),
    }


def strength_text(entry: Mapping[str, Any]) -> str | None:
    """The entry's exact strength in mg, or None for an entry without one (a count)."""
    if entry.get("strength_ug") is None and entry.get("strength_mg") is None:
        return None
    return mg_text(stored_ug(entry, "strength"))


def detail(entry: Mapping[str, Any]) -> str:
    kind = entry["kind"]
    if kind == "receipt":
        return f"order {entry.get('order_form_number') or '-'} from {entry.get('supplier_name')}"
    if kind == "dispense":
        return f"appointment {entry.get('appointment_id')}, client {entry.get('client_id')}"
    if kind in {"waste", "destruction"}:
        return f"{entry.get('method')}; witnesses {', '.join(entry.get('witness_ids', []))}"
    if kind == "count":
        return (
            f"book {mg_text(stored_ug(entry, 'book'))} mg,"
            f" counted {mg_text(stored_ug(entry, 'counted'))} mg"
        )
    if kind == "adjustment":
        return str(entry.get("reason"))
    if kind.startswith("transfer"):
        return f"counterpart {entry.get('counterpart_entry_id')}"
    return ""
