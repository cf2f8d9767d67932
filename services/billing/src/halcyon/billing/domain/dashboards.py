"""Billing dashboards: accounts-receivable aging and denials by reason. Pure; exact cents.

Aging is by date of service (the claim's ``service_date``), the convention payers' timely
filing limits and most practice-management AR reports use; submission dates move when a
claim is corrected and re-batched, the service date does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# (label, first day, last day); None = open-ended.
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)
# Statuses whose unpaid amount is still owed by the payer. A paid claim's remainder was
# either written off (CO) or moved to the client's ledger (PR); a rejected or replaced
# claim lives on as its replacement.
OPEN_STATUSES = frozenset({"draft", "submitted", "accepted", "denied", "appealed"})


def outstanding_cents(claim: Mapping[str, Any]) -> int:
    """What the payer still owes on a claim, in cents (0 if nothing is owed)."""
    if claim.get("status") not in OPEN_STATUSES or claim.get("replaced_by"):
        return 0
    return max(0, int(claim.get("total_cents", 0)) - int(claim.get("paid_cents", 0)))


def bucket_of(age_days: int) -> str:
    for label, first, last in BUCKETS:
        if age_days >= first and (last is None or age_days <= last):
            return label
    raise ValueError(f"negative age {age_days}")


@dataclass(frozen=True)
class AgingRow:
    claim_id: str
    claim_number: str
    payer: str
    client_id: str
    service_date: date
    status: str
    age_days: int
    bucket: str
    outstanding_cents: int


def ar_aging(claims: Iterable[Mapping[str, Any]], as_of: date) -> dict[str, Any]:
    """Each claim with a balance, aged from its service date to ``as_of`` (a site-local
    day), and the totals per bucket. Claims serviced after ``as_of`` are left out."""
    rows: list[AgingRow] = []
    for claim in claims:
        balance = outstanding_cents(claim)
        served = date.fromisoformat(str(claim["service_date"])[:10])
        if balance <= 0 or served > as_of:
            continue
        age = (as_of - served).days
        rows.append(
            AgingRow(
                claim_id=str(claim["_id"]),
                claim_number=str(claim.get("claim_number", "")),
                payer=str(claim.get("payer", "")),
                client_id=str(claim.get("client_id", "")),
                service_date=served,
                status=str(claim.get("status", "")),
                age_days=age,
                bucket=bucket_of(age),
                outstanding_cents=balance,
            )
        )
    rows.sort(key=lambda r: (r.service_date, r.claim_number))
    buckets = [
        {
            "bucket": label,
            "claims": sum(1 for r in rows if r.bucket == label),
            "outstanding_cents": sum(r.outstanding_cents for r in rows if r.bucket == label),
        }
        for label, _, _ in BUCKETS
    ]
    return {
        "as_of": as_of.isoformat(),
        "aged_from": "service_date",
        "buckets": buckets,
        "total_cents": sum(r.outstanding_cents for r in rows),
        "claims": [{**r.__dict__, "service_date": r.service_date.isoformat()} for r in rows],
    }


def _denial_adjustments(payment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Claim- and line-level CAS of a payment, without patient responsibility (PR is what
    the client owes, not what the payer refused)."""
    found = list(payment.get("adjustments", []))
    for service in payment.get("services", []):
        found.extend(service.get("adjustments", []))
    return [a for a in found if a.get("group") != "PR"]


def denials_by_reason(payments: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Denied claim payments grouped by CARC (with its group code, e.g. ``CO-50``).

    ``denials`` counts each denied claim payment once per reason it carries (a claim
    denied for two reasons appears under both); ``amount_cents`` sums that reason's
    adjustment amounts. ``total_denied_cents`` is the billed charge of the denied claims,
    counted once each.
    """
    reasons: dict[str, dict[str, Any]] = {}
    denied = 0
    denied_cents = 0
    for payment in payments:
        if not payment.get("denial"):
            continue
        denied += 1
        denied_cents += int(payment.get("charge_cents", 0))
        seen: set[str] = set()
        for adjustment in _denial_adjustments(payment):
            code = f"{adjustment['group']}-{adjustment['reason']}"
            entry = reasons.setdefault(
                code,
                {
                    "code": code,
                    "group": adjustment["group"],
                    "carc": adjustment["reason"],
                    "denials": 0,
                    "amount_cents": 0,
                },
            )
            entry["amount_cents"] += int(adjustment.get("amount_cents", 0))
            if code not in seen:
                entry["denials"] += 1
                seen.add(code)
    rows = sorted(reasons.values(), key=lambda r: (-r["denials"], -r["amount_cents"], r["code"]))
    return {"denied_claims": denied, "total_denied_cents": denied_cents, "reasons": rows}


# Charges that count as billed work: open (waiting for a claim), on a claim, or held (the
# work was done; the hold is about paperwork). Reversed charges were replaced by a later
# revision of the note, whose own charges count instead.
BILLABLE_STATUSES = frozenset({"open", "claimed", "held"})


def billable_units_by_clinician(
    charges: Iterable[Mapping[str, Any]], names: Mapping[str, str]
) -> dict[str, Any]:
    """Units and amounts per rendering clinician and CPT code, from the charges whose
    service date is in the period (the caller filters). Held units are shown apart, so a
    clinician's undocumented minutes are visible, not hidden in a total."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for charge in charges:
        if charge.get("kind") != "charge" or charge.get("status") not in BILLABLE_STATUSES:
            continue
        staff_id = str(charge.get("rendering_staff_id") or "")
        key = (staff_id, str(charge["cpt"]))
        row = rows.setdefault(
            key,
            {
                "staff_id": staff_id,
                "clinician": names.get(staff_id, staff_id or "(no rendering clinician)"),
                "cpt": key[1],
                "units": 0,
                "held_units": 0,
                "charges": 0,
                "amount_cents": 0,
            },
        )
        units = int(charge.get("units", 0))
        row["charges"] += 1
        if charge.get("status") == "held":
            row["held_units"] += units
        else:
            row["units"] += units
            row["amount_cents"] += int(charge.get("amount_cents", 0))
    ordered = sorted(rows.values(), key=lambda r: (r["clinician"], r["staff_id"], r["cpt"]))
    totals: dict[str, dict[str, Any]] = {}
    for row in ordered:
        total = totals.setdefault(
            row["staff_id"],
            {"staff_id": row["staff_id"], "clinician": row["clinician"], "units": 0,
             "held_units": 0, "amount_cents": 0},
        )  # fmt: skip
        total["units"] += row["units"]
        total["held_units"] += row["held_units"]
        total["amount_cents"] += row["amount_cents"]
    return {
        "rows": ordered,
        "clinicians": list(totals.values()),
        "total_units": sum(r["units"] for r in ordered),
        "total_held_units": sum(r["held_units"] for r in ordered),
        "total_cents": sum(r["amount_cents"] for r in ordered),
    }
