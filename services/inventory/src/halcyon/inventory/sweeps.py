"""Background work: ledger recovery and compliance alerts (one process at a time)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta

from halcyon.inventory.domain.deadlines import biennial_alert_needed, biennial_due, site_date
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import (
    Deadlines,
    Discrepancies,
    Ledger,
    LedgerAnchors,
    Registrations,
    RegistrationsEverywhere,
    SiteDirectory,
)
from halcyon.inventory.usecases.follow_ups import repair_count_follow_ups
from halcyon.inventory.usecases.ledger_integrity import anchor_everywhere
from halcyon.inventory.usecases.posting import ledger_writer
from halcyon.shared.contracts.inventory import ComplianceDeadlineDue
from halcyon.shared.mongo import Document, DuplicateRecord

log = logging.getLogger("halcyon.inventory.sweeps")
REGISTRATION_ALERT_DAYS = 31


async def recovery_loop(runtime: InventoryRuntime) -> None:
    """At start-up and then periodically: finish or undo interrupted ledger operations."""
    settings = runtime.settings
    writer = ledger_writer(runtime)
    grace = timedelta(seconds=settings.recovery_grace_seconds)
    while True:
        try:
            await writer.recover(grace)
        except Exception:
            log.exception("ledger recovery pass failed; will retry")
        await asyncio.sleep(settings.recovery_interval_seconds)


async def compliance_pass(runtime: InventoryRuntime, today: date | None = None) -> int:
    """Raise ``ComplianceDeadlineDue`` for biennial inventories (21 CFR 1304.11(c)) and
    registration renewals due within a month, and for open deadlines that have passed.
    Deterministic ids make each alert happen once."""
    given_today = today
    today = today or datetime.now(UTC).date()
    deadlines = runtime.repo(Deadlines)
    raised = 0
    for registration in await RegistrationsEverywhere(runtime.repo(Registrations)).all():
        last = registration.get("last_inventory_on")
        if not last or not biennial_alert_needed(date.fromisoformat(last), today):
            continue
        due = biennial_due(date.fromisoformat(last))
        raised += await _raise_once(
            runtime,
            registration,
            f"biennial:{registration['_id']}:{due.isoformat()}",
            "biennial_inventory",
            due,
            today,
        )
    for registration in await RegistrationsEverywhere(runtime.repo(Registrations)).all():
        # 21 CFR 1301.13: a lapsed registration stops all handling; renew in time.
        expires = date.fromisoformat(registration["expires_on"])
        if expires - today > timedelta(days=REGISTRATION_ALERT_DAYS):
            continue
        raised += await _raise_once(
            runtime,
            registration,
            f"expiry:{registration['_id']}:{expires.isoformat()}",
            "registration_expiry",
            expires,
            today,
        )
    # A count whose follow-up (discrepancy, deadlines) a crash cut off: finish it.
    recent = await runtime.repo(Ledger).counts_with_discrepancy_since(
        datetime.now(UTC) - timedelta(days=7)
    )
    raised += await repair_count_follow_ups(
        recent,
        runtime.repo(Discrepancies),
        deadlines,
        runtime.event,
        runtime.repo(SiteDirectory),
    )
    sites = runtime.repo(SiteDirectory)
    for deadline in await deadlines.open_everywhere():
        due = date.fromisoformat(deadline["due_on"])
        tenant = deadline["tenant_id"]
        # Overdue once the due day has ended at the site, not in UTC.
        site = await sites.get(tenant, deadline["site_id"])
        site_today = (
            site_date(datetime.now(UTC), site.get("timezone") if site else None)
            if given_today is None
            else given_today
        )
        if due >= site_today or deadline.get("overdue_raised"):
            continue
        event = ComplianceDeadlineDue(
            deadline_id=deadline["_id"],
            site_id=deadline["site_id"],
            kind=deadline["kind"],
            due_on=due,
            overdue=True,
            discrepancy_id=deadline.get("discrepancy_id"),
        )
        marked = await deadlines.update(
            tenant,
            {"_id": deadline["_id"], "overdue_raised": {"$ne": True}},
            {"$set": {"overdue_raised": True}},
            [runtime.event(event, tenant_id=tenant)],
        )
        raised += marked is not None
    return raised


async def _raise_once(
    runtime: InventoryRuntime,
    registration: Document,
    deadline_id: str,
    kind: str,
    due: date,
    today: date,
) -> int:
    """Track a registration's deadline and announce it, once (deterministic id)."""
    tenant = registration["tenant_id"]
    event = ComplianceDeadlineDue(
        deadline_id=deadline_id,
        site_id=registration["site_id"],
        kind=kind,
        due_on=due,
        overdue=due < today,
    )
    try:
        await runtime.repo(Deadlines).insert(
            tenant,
            {
                "_id": deadline_id,
                "site_id": registration["site_id"],
                "registration_id": registration["_id"],
                "kind": kind,
                "due_on": due.isoformat(),
                "status": "open",
                # Already announced as overdue if it is: no second "overdue" alert.
                "overdue_raised": due < today,
                "created_at": datetime.now(UTC),
            },
            [runtime.event(event, tenant_id=tenant)],
        )
    except DuplicateRecord:
        return 0
    return 1


async def anchor_loop(runtime: InventoryRuntime) -> None:
    """Periodically anchor each chain's head outside inventory's database (ADR 0503).
    Anchor ids come from the head, so instances running this at once write one anchor."""
    settings = runtime.settings
    while True:
        try:
            registrations = await RegistrationsEverywhere(runtime.repo(Registrations)).all()
            await anchor_everywhere(
                registrations,
                runtime.repo(LedgerAnchors),
                runtime.repo(Ledger),
                settings.ledger_key_bytes,
                runtime.event,
            )
        except Exception:
            log.exception("ledger anchoring pass failed; will retry")
        await asyncio.sleep(settings.anchor_interval_seconds)


async def compliance_loop(runtime: InventoryRuntime) -> None:
    settings = runtime.settings
    while True:
        try:
            await compliance_pass(runtime)
        except Exception:
            log.exception("compliance sweep failed; will retry")
        await asyncio.sleep(settings.compliance_sweep_seconds)
