"""Regulatory clocks: theft/loss notices, Form 106, biennial inventory, record retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# 21 CFR 1301.76(b): the DEA Form 106 follows within 45 days of discovering a theft/loss.
FORM_106_DAYS = 45
# 21 CFR 1304.11(c): a new inventory at least every two years.
BIENNIAL_INTERVAL_DAYS = 2 * 365
BIENNIAL_ALERT_DAYS = 31
# 21 CFR 1304.04(a): records are kept at least two years from the date they were made.
RETENTION_DAYS = 2 * 365


def next_business_day(day: date) -> date:
    """The first weekday after ``day`` (federal holidays are not modelled: conservative
    only in that a holiday makes the real deadline later, never earlier)."""
    current = day + timedelta(days=1)
    while current.weekday() >= 5:
        current += timedelta(days=1)
    return current


def theft_loss_deadlines(discovered_on: date) -> dict[str, date]:
    """21 CFR 1301.76(b): notify the DEA Field Division in writing within one business
    day of discovery; file DEA Form 106 within 45 days."""
    return {
        "dea_theft_loss_notice": next_business_day(discovered_on),
        "dea_form_106": discovered_on + timedelta(days=FORM_106_DAYS),
    }


def biennial_due(last_inventory_on: date) -> date:
    """21 CFR 1304.11(c): the next inventory is due two years after the last one."""
    return last_inventory_on + timedelta(days=BIENNIAL_INTERVAL_DAYS)


def biennial_alert_needed(last_inventory_on: date, today: date) -> bool:
    return biennial_due(last_inventory_on) - today <= timedelta(days=BIENNIAL_ALERT_DAYS)


def within_retention(recorded_at: datetime, now: datetime | None = None) -> bool:
    """True while 21 CFR 1304.04(a) forbids deleting or archiving the record."""
    now = now or datetime.now(UTC)
    return now - recorded_at < timedelta(days=RETENTION_DAYS)
