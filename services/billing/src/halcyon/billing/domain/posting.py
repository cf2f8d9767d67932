"""What an 835 posts: per claim payment, per provider adjustment. Pure; the store applies it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from halcyon.billing.domain.remittance import (
    ClaimPayment,
    Remittance,
    RemittanceTransaction,
    claim_payment_id,
    provider_adjustment_id,
)


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


@dataclass(frozen=True)
class ProviderAdjustmentPosting:
    adjustment_id: str
    transaction: RemittanceTransaction
    reason: str
    reference: str
    amount_cents: int
    fiscal_period: str
    provider_id: str


@dataclass(frozen=True)
class PostingPlan:
    claims: tuple[ClaimPosting, ...]
    provider_adjustments: tuple[ProviderAdjustmentPosting, ...]

    @property
    def paid_cents(self) -> int:
        return sum(p.payment.paid_cents for p in self.claims)

    @property
    def provider_adjustment_cents(self) -> int:
        return sum(p.amount_cents for p in self.provider_adjustments)


def plan_posting(remittance: Remittance, claims: Mapping[str, ClaimRef]) -> PostingPlan:
    postings: list[ClaimPosting] = []
    adjustments: list[ProviderAdjustmentPosting] = []
    for transaction in remittance.transactions:
        for payment in transaction.claims:
            postings.append(
                ClaimPosting(
                    payment_id=claim_payment_id(transaction, payment),
                    transaction=transaction,
                    payment=payment,
                    claim=claims.get(payment.patient_control_number),
                )
            )
        for index, plb in enumerate(transaction.provider_adjustments):
            adjustments.append(
                ProviderAdjustmentPosting(
                    adjustment_id=provider_adjustment_id(transaction, index),
                    transaction=transaction,
                    reason=plb.reason,
                    reference=plb.reference,
                    amount_cents=plb.amount_cents,
                    fiscal_period=plb.fiscal_period,
                    provider_id=plb.provider_id,
                )
            )
    return PostingPlan(tuple(postings), tuple(adjustments))
