"""What an 835 posts, decided whole before anything is written (ADR 0604). Pure.

The plan has one entry per claim payment (CLP) and per provider adjustment (PLB
reason/amount pair) of the file, each with an id from the file's own keys
(``remittance.claim_payment_id``/``provider_adjustment_id``), so writing the plan
twice, or the same file twice, converges to one posting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from halcyon.billing.domain.remittance import (
    Adjustment,
    ClaimPayment,
    Remittance,
    RemittanceTransaction,
    claim_payment_id,
    provider_adjustment_id,
)
from halcyon.billing.domain.x12 import X12Error


def remittance_file_id(tenant: str, remittance: Remittance) -> str:
    """One record per agency and interchange: the sender, its ISA13, and what it says (the
    segments, not the bytes: a resend with other line breaks is the same file). The agency
    is part of it: record ids are unique across the agencies sharing the collection."""
    interchange = remittance.interchange
    parts = (tenant, interchange.sender, interchange.control_number, interchange.content_sha256)
    basis = "".join(f"{len(p)}:{p}" for p in parts)  # length-prefixed: no collisions
    return "era:" + hashlib.sha256(basis.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ClaimRef:
    """Our claim, as found by its number (CLM01, echoed in CLP01)."""

    claim_id: str
    client_id: str
    payer: str


@dataclass(frozen=True)
class ClaimPosting:
    payment_id: str
    transaction: RemittanceTransaction
    payment: ClaimPayment
    claim: ClaimRef | None  # None: no claim of ours has that number

    @property
    def claim_status(self) -> str:
        return "denied" if self.payment.is_denial else "paid"

    @property
    def work_item(self) -> str | None:
        """Why a biller must look at this payment, if they must."""
        if self.claim is None:
            return "unmatched"
        if self.payment.is_denial:
            return "denial"
        return None

    def reasons(self) -> dict[str, Any]:
        """What the work queue shows and filters on: every CARC with its group, the RARCs."""
        adjustments = self.payment.all_adjustments
        return {
            "codes": self.payment.denial_codes,
            "carcs": [_carc(a) for a in adjustments],
            "carc_codes": sorted({a.reason for a in adjustments}),
            "group_codes": sorted({a.group for a in adjustments}),
            "remarks": self.payment.remark_codes,
        }


def _carc(adjustment: Adjustment) -> dict[str, Any]:
    return {
        "group": adjustment.group,
        "reason": adjustment.reason,
        "amount_cents": adjustment.amount_cents,
    }


@dataclass(frozen=True)
class ProviderAdjustmentPosting:
    adjustment_id: str
    transaction: RemittanceTransaction
    index: int  # which reason/amount pair of the transaction's PLBs, from 0
    reason: str
    reference: str
    amount_cents: int
    fiscal_period: str
    provider_id: str


@dataclass(frozen=True)
class PostingPlan:
    remittance_id: str
    claims: tuple[ClaimPosting, ...]
    provider_adjustments: tuple[ProviderAdjustmentPosting, ...]

    @property
    def paid_cents(self) -> int:
        return sum(p.payment.paid_cents for p in self.claims)

    @property
    def provider_adjustment_cents(self) -> int:
        return sum(p.amount_cents for p in self.provider_adjustments)

    @property
    def ids(self) -> list[str]:
        return [p.payment_id for p in self.claims] + [
            a.adjustment_id for a in self.provider_adjustments
        ]

    def differences(self, stored: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Postings of this plan already stored (same file keys) with other money: the
        interchange was posted before with other content. Writing would keep the stored
        amounts and silently drop this file's, so the file must be refused instead."""
        out = []
        for posting in self.claims:
            doc = stored.get(posting.payment_id)
            payment = posting.payment
            planned = (
                payment.paid_cents,
                payment.charge_cents,
                payment.patient_responsibility_cents,
                payment.status,
            )
            if doc is not None and planned != (
                doc.get("amount_cents"),
                doc.get("charge_cents"),
                doc.get("patient_responsibility_cents"),
                doc.get("claim_status_code"),
            ):
                out.append(f"claim {payment.patient_control_number} ({posting.payment_id})")
        for adjustment in self.provider_adjustments:
            doc = stored.get(adjustment.adjustment_id)
            planned_plb = (adjustment.amount_cents, adjustment.reason)
            if doc is not None and planned_plb != (doc.get("amount_cents"), doc.get("reason")):
                out.append(f"PLB {adjustment.reason} ({adjustment.adjustment_id})")
        return out


def plan_posting(
    tenant: str, remittance: Remittance, claims: Mapping[str, ClaimRef]
) -> PostingPlan:
    """The agency's posting of the file; ``claims`` are the agency's claims by number."""
    postings: list[ClaimPosting] = []
    adjustments: list[ProviderAdjustmentPosting] = []
    for transaction in remittance.transactions:
        for payment in transaction.claims:
            postings.append(
                ClaimPosting(
                    payment_id=claim_payment_id(tenant, transaction, payment),
                    transaction=transaction,
                    payment=payment,
                    claim=claims.get(payment.patient_control_number),
                )
            )
        for index, plb in enumerate(transaction.provider_adjustments):
            adjustments.append(
                ProviderAdjustmentPosting(
                    adjustment_id=provider_adjustment_id(tenant, transaction, index),
                    transaction=transaction,
                    index=index,
                    reason=plb.reason,
                    reference=plb.reference,
                    amount_cents=plb.amount_cents,
                    fiscal_period=plb.fiscal_period,
                    provider_id=plb.provider_id,
                )
            )
    plan = PostingPlan(remittance_file_id(tenant, remittance), tuple(postings), tuple(adjustments))
    if len(set(plan.ids)) != len(plan.ids):
        # Cannot happen with the keys above (the envelope refuses repeated control
        # numbers); checked because a collision would silently drop a posting.
        raise X12Error("ST", None, "two postings of this file have the same identity")
    return plan
