"""Charge capture: deterministic ids and corrections when a note's billable facts change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from halcyon.billing.domain.coding import ChargeLine


def charge_id(encounter_id: str, revision: int, line_key: str) -> str:
    """The same encounter, revision and service always give the same charge id.

    That is what makes charge capture exactly-once: a redelivered event tries to
    insert a charge that already exists, and the unique _id refuses it.
    """
    return f"chg:{encounter_id}:r{revision}:{line_key}"


def reversal_id(original_charge_id: str, revision: int) -> str:
    return f"{original_charge_id}:void-r{revision}"


@dataclass(frozen=True)
class ActiveCharge:
    """A charge already captured and not yet reversed."""

    charge_id: str
    line_key: str
    facts: str  # stored_facts() of the line it was charged from
    # claim_context() of the note it was charged from; None when unknown (not compared).
    context: str | None = None


@dataclass(frozen=True)
class CapturePlan:
    create: tuple[tuple[str, ChargeLine], ...]  # (new charge id, line)
    reverse: tuple[str, ...]  # active charge ids to reverse (a correction entry each)
    keep: tuple[str, ...]


def plan_capture(
    encounter_id: str,
    revision: int,
    lines: tuple[ChargeLine, ...],
    active: list[ActiveCharge],
    claim_context: str | None = None,
) -> CapturePlan:
    """Compare what the note earns now with what was charged before.

    Unchanged services keep their charge; a changed or vanished service is
    reversed (a correction entry, never a delete), and the new facts get a new
    charge under this revision. Running the plan twice converges: after the
    first run, the new charges are the active ones and match.

    ``claim_context`` (the note's diagnoses and Part 2 flag) is part of what a payer
    sees on every line's claim: when an addendum changes it (e.g. F43.10 becomes the
    SUD diagnosis F11.20 with the same pointers), every charge is replaced, so the new
    charge carries the new diagnoses and is held for a Part 2 consent (ADR 0607).
    """
    by_key = {c.line_key: c for c in active}
    create: list[tuple[str, ChargeLine]] = []
    keep: list[str] = []
    for line in lines:
        existing = by_key.get(line.key)
        if (
            existing is not None
            and existing.facts == _facts(line)
            and (claim_context is None or existing.context in (None, claim_context))
        ):
            keep.append(existing.charge_id)
            continue
        create.append((charge_id(encounter_id, revision, line.key), line))
    reverse = [c.charge_id for c in active if c.charge_id not in keep]
    return CapturePlan(create=tuple(create), reverse=tuple(reverse), keep=tuple(keep))


def claim_context(diagnoses: Sequence[str], part2: bool) -> str:
    """The note-level facts every claim line carries: its diagnoses and Part 2 protection."""
    return json.dumps([list(diagnoses), bool(part2)])


def _facts(line: ChargeLine) -> str:
    return stored_facts(line)


def stored_facts(line: ChargeLine) -> str:
    """The billable facts as one comparable string (FerretDB stores no nested arrays)."""
    return json.dumps([list(f) if isinstance(f, tuple) else f for f in line.billable_facts()])
