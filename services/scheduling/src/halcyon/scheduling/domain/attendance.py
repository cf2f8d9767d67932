"""Attendance dashboard: no-show and late-cancel rates per site, clinician and type. Pure.

The denominator is the appointments *held* for the client in the period: every appointment
whose start falls on a site-local day in the period, except cancellations made with enough
notice (those gave the slot back and are not attendance failures). Rates are exact
Decimals rounded half-up to a tenth of a percent, never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from halcyon.shared.calendar import site_day

DIMENSIONS = ("site", "clinician", "appointment_type")


def in_period(appointment: Mapping[str, Any], start: date, end: date) -> bool:
    starts_at: datetime = appointment["starts_at"]
    return start <= site_day(starts_at, appointment.get("site_timezone")) <= end


def rate(part: int, whole: int) -> str | None:
    """``part / whole`` as a percentage with one decimal ("12.5"); None when nothing was held."""
    if whole == 0:
        return None
    return str((Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def _keys(appointment: Mapping[str, Any], dimension: str) -> list[str]:
    if dimension == "site":
        return [str(appointment["site_id"])]
    if dimension == "clinician":
        # A co-facilitated session counts for each clinician on it.
        return sorted({str(s) for s in appointment.get("clinician_ids", [])})
    return [str(appointment["appointment_type"])]


def attendance(appointments: Iterable[Mapping[str, Any]], start: date, end: date) -> dict[str, Any]:
    held = [
        a
        for a in appointments
        if in_period(a, start, end)
        and not (a["status"] == "cancelled" and not a.get("late_cancel"))
    ]
    counts: dict[tuple[str, str], list[int]] = {}
    for appointment in held:
        no_show = appointment["status"] == "no_show"
        late = appointment["status"] == "cancelled" and bool(appointment.get("late_cancel"))
        for dimension in DIMENSIONS:
            for key in _keys(appointment, dimension):
                entry = counts.setdefault((dimension, key), [0, 0, 0])
                entry[0] += 1
                entry[1] += int(no_show)
                entry[2] += int(late)
    rows = [
        {
            "dimension": dimension,
            "key": key,
            "held": held_n,
            "no_shows": no_shows,
            "late_cancels": late,
            "no_show_rate_pct": rate(no_shows, held_n),
            "late_cancel_rate_pct": rate(late, held_n),
        }
        for (dimension, key), (held_n, no_shows, late) in sorted(
            counts.items(), key=lambda kv: (DIMENSIONS.index(kv[0][0]), kv[0][1])
        )
    ]
    return {"from": start.isoformat(), "to": end.isoformat(), "rows": rows}
