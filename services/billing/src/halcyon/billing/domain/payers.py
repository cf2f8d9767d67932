"""Coverages, fee schedules and prior authorizations: pure selection rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

SELF_PAY = "self-pay"
RANKS = ("primary", "secondary", "tertiary")
# Patient's relationship to the subscriber -> 837P SBR02/PAT01 code (005010X222A1).
RELATIONSHIP_CODES = {"self": "18", "spouse": "01", "child": "19", "other": "G8"}


def effective(doc: Mapping[str, Any], on: date) -> bool:
    """starts_on <= on <= ends_on (an open end means still in force)."""
    starts = _as_date(doc.get("starts_on"))
    ends = _as_date(doc.get("ends_on"))
    return (starts is None or starts <= on) and (ends is None or on <= ends)


def coverage_for(
    coverages: Iterable[Mapping[str, Any]], on: date, rank: str
) -> Mapping[str, Any] | None:
    """The client's coverage of that rank in force on the date of service."""
    for coverage in coverages:
        if coverage.get("rank") == rank and effective(coverage, on):
            return coverage
    return None


@dataclass(frozen=True)
class Fee:
    rate_cents: int
    entry_id: str


def fee_for(
    entries: Iterable[Mapping[str, Any]], cpt: str, modifiers: tuple[str, ...], on: date
) -> Fee | None:
    """The rate for a code on a date: an entry with the same modifiers wins over one with none."""
    exact: Fee | None = None
    plain: Fee | None = None
    for entry in entries:
        if entry.get("cpt") != cpt or not effective(entry, on):
            continue
        entry_modifiers = tuple(entry.get("modifiers") or ())
        fee = Fee(int(entry["rate_cents"]), str(entry["_id"]))
        if entry_modifiers == modifiers:
            exact = fee
        elif not entry_modifiers:
            plain = fee
    return exact or plain


def authorization_for(
    authorizations: Iterable[Mapping[str, Any]], cpt: str, on: date
) -> Mapping[str, Any] | None:
    for auth in authorizations:
        if auth.get("cpt") == cpt and effective(auth, on):
            return auth
    return None


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
