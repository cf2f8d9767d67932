"""Posting an 835: payments, adjustments, provider-level adjustments, denials, patient balances.

Re-ingesting changes nothing: the file is recorded by its SHA-256 (checked first,
written last), and every posting has a deterministic id (claim payment id from
payer, trace number, CLP01, CLP07...), so even a crash half-way through followed
by a retry converges without posting anything twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from halcyon.billing.capture import _ledger_entry
from halcyon.billing.claiming import status_event
from halcyon.billing.domain.posting import ClaimPosting, ClaimRef, PostingPlan, plan_posting
from halcyon.billing.domain.remittance import Remittance, read_835
from halcyon.billing.store import Claims, Ledger, Payments, Remittances, WorkQueue
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.billing import PaymentPosted
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import DuplicateRecord, OutboxEvent

SOURCE = "/halcyon/billing"


def remittance_id(remittance: Remittance) -> str:
    return f"era:{remittance.file_sha256}"


class RemittancePoster:
    def __init__(
        self,
        remittances: Remittances,
        claims: Claims,
        payments: Payments,
        work: WorkQueue,
        ledger: Ledger,
    ) -> None:
        self.remittances = remittances
        self.claims = claims
        self.payments = payments
        self.work = work
        self.ledger = ledger

    async def ingest(self, caller: Caller, raw: bytes, filename: str | None) -> dict[str, Any]:
        # Parse everything first: a file that cannot be understood raises before any write.
        remittance = read_835(raw)
        tenant = caller.tenant_id
        rid = remittance_id(remittance)
        existing = await self.remittances.get(tenant, rid)
        if existing is not None:
            return {**existing["summary"], "id": rid, "already_ingested": True}
        numbers = sorted(
            {c.patient_control_number for t in remittance.transactions for c in t.claims}
        )
        found = await self.claims.find(tenant, {"claim_number": {"$in": numbers}})
        refs = {d["claim_number"]: ClaimRef(d["_id"], d["client_id"], d["payer"]) for d in found}
        plan = plan_posting(remittance, refs)
        for posting in plan.claims:
            await self._post_claim(caller, rid, posting)
        for adjustment in plan.provider_adjustments:
            event = PaymentPosted(
                payment_id=adjustment.adjustment_id,
                amount_cents=-adjustment.amount_cents,
                source="adjustment",
            )
            with contextlib.suppress(DuplicateRecord):
                await self.payments.insert(
                    tenant,
                    {
                        "_id": adjustment.adjustment_id,
                        "kind": "provider_adjustment",
                        "remittance_id": rid,
                        "reason": adjustment.reason,
                        "reference": adjustment.reference,
                        "amount_cents": adjustment.amount_cents,
                        "fiscal_period": adjustment.fiscal_period,
                        "provider_id": adjustment.provider_id,
                        "trace_number": adjustment.transaction.trace_number,
                        "posted_at": datetime.now(UTC),
                    },
                    [self._event(caller, event)],
                )
        summary = self._summary(remittance, plan, filename)
        with contextlib.suppress(DuplicateRecord):
            await self.remittances.insert(
                tenant,
                {
                    "_id": rid,
                    "summary": summary,
                    "received_at": datetime.now(UTC),
                    "received_by": caller.user_id,
                },
            )
        return {**summary, "id": rid, "already_ingested": False}

    async def _post_claim(self, caller: Caller, rid: str, posting: ClaimPosting) -> None:
        tenant = caller.tenant_id
        payment = posting.payment
        claim = posting.claim
        adjustments = [asdict(a) for a in payment.adjustments]
        services = [
            {
                "procedure": s.procedure,
                "modifiers": list(s.modifiers),
                "charge_cents": s.charge_cents,
                "paid_cents": s.paid_cents,
                "adjustments": [asdict(a) for a in s.adjustments],
                "remarks": list(s.remarks),
            }
            for s in payment.services
        ]
        document = {
            "_id": posting.payment_id,
            "kind": "claim_payment",
            "remittance_id": rid,
            "claim_id": claim.claim_id if claim else None,
            "client_id": claim.client_id if claim else None,
            "patient_control_number": payment.patient_control_number,
            "payer_claim_number": payment.payer_claim_number,
            "claim_status_code": payment.status,
            "charge_cents": payment.charge_cents,
            "amount_cents": payment.paid_cents,
            "patient_responsibility_cents": payment.patient_responsibility_cents,
            "adjustments": adjustments,
            "services": services,
            "remarks": list(payment.remarks),
            "denial": payment.is_denial,
            "trace_number": posting.transaction.trace_number,
            "payer_id": posting.transaction.payer_id,
            "posted_at": datetime.now(UTC),
        }
        event = PaymentPosted(
            payment_id=posting.payment_id,
            claim_id=claim.claim_id if claim else None,
            client_id=claim.client_id if claim else None,
            amount_cents=payment.paid_cents,
            source="era_835",
        )
        with contextlib.suppress(DuplicateRecord):
            await self.payments.insert(tenant, document, [self._event(caller, event)])
        if claim is not None:
            doc = await self.claims.get(tenant, claim.claim_id)
            await self._apply_to_claim(caller, posting, claim, adjustments, services)
            owed = payment.patient_responsibility_cents
            description = (
                "patient responsibility (deductible, coinsurance, copay) per payer remittance"
            )
            if doc is not None and doc.get("primary_claim_id"):
                # A later payer's CLP05 replaces what the primary left to the client; the
                # primary's share is already on the ledger, so only the difference posts.
                primary = await self.claims.get(tenant, doc["primary_claim_id"])
                owed -= int((primary or {}).get("patient_responsibility_cents", 0))
                description = "patient responsibility after the secondary payer"
            if owed:
                await _ledger_entry(
                    self.ledger,
                    tenant,
                    f"led:{posting.payment_id}",
                    claim.client_id,
                    owed,
                    description,
                    posting.payment_id,
                )
        if posting.work_item is not None:
            with contextlib.suppress(DuplicateRecord):
                await self.work.insert(
                    tenant,
                    {
                        "_id": f"wq:{posting.payment_id}",
                        "kind": posting.work_item,
                        "status": "open",
                        "payment_id": posting.payment_id,
                        "claim_id": claim.claim_id if claim else None,
                        "client_id": claim.client_id if claim else None,
                        "patient_control_number": payment.patient_control_number,
                        "payer_claim_number": payment.payer_claim_number,
                        "codes": payment.denial_codes,
                        "remarks": sorted(
                            {r for s in payment.services for r in s.remarks} | set(payment.remarks)
                        ),
                        "charge_cents": payment.charge_cents,
                        "created_at": datetime.now(UTC),
                    },
                )

    async def _apply_to_claim(
        self,
        caller: Caller,
        posting: ClaimPosting,
        claim: ClaimRef,
        adjustments: list[dict[str, Any]],
        services: list[dict[str, Any]],
    ) -> None:
        tenant = caller.tenant_id
        doc = await self.claims.get(tenant, claim.claim_id)
        if doc is None:
            return
        payment = posting.payment
        status = posting.claim_status
        # Line adjudication for a later secondary claim (2430): match SVC lines to ours by code.
        remaining = list(doc.get("lines", []))
        line_adjudications = []
        for service in services:
            match = next((line for line in remaining if line["cpt"] == service["procedure"]), None)
            if match is None:
                continue
            remaining.remove(match)
            line_adjudications.append(
                {
                    "charge_id": match["charge_id"],
                    "paid_cents": service["paid_cents"],
                    "adjustments": service["adjustments"],
                }
            )
        adjudicated_on = posting.transaction.payment_date or datetime.now(UTC).date()
        projected = {
            **doc,
            "paid_cents": int(doc.get("paid_cents", 0)) + payment.paid_cents,
            "denial_codes": payment.denial_codes if payment.is_denial else [],
        }
        await self.claims.update(
            tenant,
            {"_id": claim.claim_id, "applied_payments": {"$ne": posting.payment_id}},
            {
                "$inc": {
                    "paid_cents": payment.paid_cents,
                    "patient_responsibility_cents": payment.patient_responsibility_cents,
                },
                "$set": {
                    "status": status,
                    "claim_adjustments": adjustments,
                    "line_adjudications": line_adjudications,
                    "adjudicated_on": adjudicated_on.isoformat(),
                    "denial_codes": projected["denial_codes"],
                    "payer_claim_number": payment.payer_claim_number,
                },
                "$push": {
                    "applied_payments": posting.payment_id,
                    "history": {
                        "status": status,
                        "at": datetime.now(UTC),
                        "by": "era_835",
                        "payment_id": posting.payment_id,
                    },
                },
            },
            [status_event(caller, projected, status)],
        )

    @staticmethod
    def _event(caller: Caller, contract: PaymentPosted) -> OutboxEvent:
        envelope = EventEnvelope.wrap(contract, source=SOURCE, tenant_id=caller.tenant_id)
        return OutboxEvent(envelope, contract.topic)

    @staticmethod
    def _summary(remittance: Remittance, plan: PostingPlan, filename: str | None) -> dict[str, Any]:
        return {
            "filename": filename,
            "sha256": remittance.file_sha256,
            "warnings": remittance.warnings,
            "transactions": len(remittance.transactions),
            "claim_payments": len(plan.claims),
            "matched": sum(1 for p in plan.claims if p.claim is not None),
            "unmatched": sum(1 for p in plan.claims if p.claim is None),
            "denials": sum(1 for p in plan.claims if p.payment.is_denial),
            "paid_cents": plan.paid_cents,
            "provider_adjustments": len(plan.provider_adjustments),
            "provider_adjustment_cents": plan.provider_adjustment_cents,
            "payment_cents": sum(t.payment_cents for t in remittance.transactions),
        }
